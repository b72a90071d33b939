"""The fonts the synthetic characters are drawn from: Debian packages, their licences, and which are held out.

Fonts are split by family, never by face: every face of a held-out family (and of a family derived
from it, such as Hack from DejaVu Sans Mono) renders only validation images, so a model is judged
on letter shapes it has never seen. Caps-only fonts (their lowercase glyphs are small capitals)
render digits and uppercase only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Where Debian installs font files.
FONT_ROOT = Path("/usr/share/fonts")

TRAIN = "train"
VALIDATION = "validation"


@dataclass(frozen=True)
class FontFace:
    """One font file: the Debian package that installs it, its style and its split."""

    file: str
    package: str
    style: str  # "handwriting" or "regular"
    licence: str
    split: str = TRAIN
    caps_only: bool = False


def _faces(package: str, style: str, licence: str, *files: str, split: str = TRAIN,
           caps_only: bool = False) -> list[FontFace]:
    return [FontFace(f, package, style, licence, split, caps_only) for f in files]


HAND, REGULAR, HELD_OUT = "handwriting", "regular", VALIDATION

FONTS: tuple[FontFace, ...] = tuple(
    # handwriting-style fonts
    _faces("fonts-dkg-handwriting", HAND, "GPL-3+ / OFL-1.1", "dkg.ttf", "dkgBd.ttf")
    + _faces("fonts-breip", HAND, "OFL-1.0", "Breip.ttf")
    + _faces("fonts-femkeklaver", HAND, "CC-BY-SA-3.0", "femkeklaver.ttf")
    + _faces("fonts-rufscript", HAND, "GPL-3+ with font exception", "Rufscript010.ttf")
    + _faces("fonts-humor-sans", HAND, "OFL-1.1", "Humor-Sans.ttf")
    + _faces("fonts-bwht", HAND, "OFL-1.1", "BecauseWeBuild-Regular.otf", "BecauseWeConnect-Regular.otf",
             "BecauseWeCreate-Regular.otf", "BecauseWeLearn-Regular.otf",
             "BecauseWeMentor-Regular.otf",
             "BecauseWeOrganize-Regular.otf", caps_only=True)
    + _faces("fonts-comic-neue", HAND, "OFL-1.1", "ComicNeue-Regular.otf", "ComicNeue-Bold.otf")
    + _faces("fonts-kristi", HAND, "OFL-1.1", "Kristi.ttf")
    + _faces("fonts-isabella", HAND, "LGPL-2+", "Isabella.ttf")
    + _faces("fonts-urw-base35", HAND, "AGPL-3 with font exception", "Z003-MediumItalic.otf")
    + _faces("fonts-dustin", HAND, "GPL-2+", "Domestic_Manners.ttf", "It_wasn_t_me.ttf")
    + _faces("fonts-sjfonts", HAND, "GPL with font exception", "Delphine.ttf", "SteveHand.ttf",
             split=HELD_OUT)
    + _faces("fonts-tomsontalks", HAND, "OFL-1.1", "TomsonTalks.ttf", split=HELD_OUT)
    + _faces("fonts-tlwg-purisa-ttf", HAND, "GPL-2+", "Purisa.ttf", "Purisa-Bold.ttf",
             split=HELD_OUT)
    # regular families, for shape variety
    + _faces("fonts-liberation", REGULAR, "GPL-2 with font exception", "LiberationSans-Regular.ttf",
             "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf", "LiberationSansNarrow-Regular.ttf")
    + _faces("fonts-freefont-ttf", REGULAR, "GPL-3+ with font exception", "FreeSans.ttf", "FreeSerif.ttf",
             "FreeMono.ttf")
    + _faces("fonts-open-sans", REGULAR, "Apache-2.0", "OpenSans-Regular.ttf")
    + _faces("fonts-lato", REGULAR, "OFL-1.1", "Lato-Regular.ttf")
    + _faces("fonts-roboto-unhinted", REGULAR, "Apache-2.0", "Roboto-Regular.ttf",
             "RobotoCondensed-Regular.ttf")
    + _faces("fonts-adf-gillius", REGULAR, "GPL-2+ with font exception", "GilliusADF-Regular.otf")
    + _faces("fonts-adf-accanthis", REGULAR, "GPL-2+ with font exception", "AccanthisADFStd-Regular.otf")
    + _faces("fonts-comfortaa", REGULAR, "OFL-1.1", "Comfortaa-Regular.ttf")
    + _faces("fonts-cabin", REGULAR, "OFL-1.1", "Cabin-Regular.otf")
    + _faces("fonts-inconsolata", REGULAR, "OFL-1.0", "Inconsolata.otf")
    + _faces("fonts-linuxlibertine", REGULAR, "GPL-2+ with font exception / OFL-1.1", "LinBiolinum_R.otf",
             "LinLibertine_R.otf")
    + _faces("fonts-yanone-kaffeesatz", REGULAR, "OFL-1.1", "YanoneKaffeesatz-Regular.otf")
    + _faces("fonts-klaudia-berenika", REGULAR, "OFL-1.1", "Klaudia.ttf", "Berenika.ttf")
    + _faces("fonts-sil-andika", REGULAR, "OFL-1.1", "Andika-Regular.ttf")
    + _faces("fonts-sil-charis", REGULAR, "OFL-1.1", "CharisSIL-Regular.ttf")
    + _faces("fonts-crosextra-carlito", REGULAR, "OFL-1.1", "Carlito-Regular.ttf")
    + _faces("fonts-crosextra-caladea", REGULAR, "OFL-1.1", "Caladea-Regular.ttf")
    + _faces("fonts-averia-sans-gwf", REGULAR, "OFL-1.1", "AveriaSansGWF-Regular.ttf")
    + _faces("fonts-fantasque-sans", REGULAR, "OFL-1.1", "FantasqueSansMono-Regular.otf")
    + _faces("fonts-courier-prime", REGULAR, "OFL-1.1", "Courier Prime Sans.otf")
    + _faces("fonts-beteckna", REGULAR, "GPL-3", "BetecknaGS.ttf")
    + _faces("fonts-dustin", REGULAR, "GPL-2+", "Dustismo.ttf")
    + _faces("fonts-urw-base35", REGULAR, "AGPL-3 with font exception", "NimbusSans-Regular.otf",
             "NimbusRoman-Regular.otf", "C059-Roman.otf", "P052-Roman.otf", "URWBookman-Light.otf",
             "URWGothic-Book.otf", "NimbusMonoPS-Regular.otf")
    + _faces("fonts-dejavu-core", REGULAR, "Bitstream Vera", "DejaVuSans.ttf", "DejaVuSerif.ttf",
             "DejaVuSansMono.ttf", split=HELD_OUT)
    + _faces("fonts-hack", REGULAR, "MIT and Bitstream Vera", "Hack-Regular.ttf", split=HELD_OUT)
    + _faces("fonts-cantarell", REGULAR, "OFL-1.1", "Cantarell-Regular.otf", split=HELD_OUT)
    + _faces("fonts-jura", REGULAR, "OFL-1.1", "Jura-Regular.otf", split=HELD_OUT)
    + _faces("fonts-averia-serif-gwf", REGULAR, "OFL-1.1", "AveriaSerifGWF-Regular.ttf", split=HELD_OUT)
    + _faces("fonts-go", REGULAR, "BSD-3-Clause", "Go-Regular.ttf", "Go-Mono.ttf", split=HELD_OUT)
    + _faces("fonts-quicksand", REGULAR, "OFL-1.1", "Quicksand-Regular.ttf", split=HELD_OUT)
)


def debian_packages() -> list[str]:
    """Every package to ``apt-get install`` for the generator, sorted."""
    return sorted({face.package for face in FONTS})


def find_font(face: FontFace, root: Path = FONT_ROOT) -> Path:
    """The installed file of a face; a clear error naming the package to install when it is missing."""
    matches = sorted(path for path in root.rglob(face.file) if path.is_file())
    if not matches:
        raise FileNotFoundError(f"font {face.file} not found under {root}: apt-get install {face.package}")
    return matches[0]
