"""Print the requirements of one of pyproject.toml's extras, one a line (the image installs an extra's
dependencies without installing the project itself: its code is copied next to them, templates and all).

``python3 container/extra_requirements.py serve-tf`` prints the ``serve`` extra's requirements and
TensorFlow: an extra naming ``emnist-serving[other]`` is expanded to that extra's list.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_SELF = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\[(?P<extras>[^\]]+)\]$")


def extra_requirements(extra: str, pyproject: Path = PYPROJECT) -> list[str]:
    """The extra's requirements, the project's own extras it names expanded in place (no repeats)."""
    with pyproject.open("rb") as file:
        project = tomllib.load(file)["project"]
    extras = project["optional-dependencies"]
    if extra not in extras:
        raise SystemExit(f"pyproject.toml has no extra {extra!r}; it has {', '.join(sorted(extras))}")
    found: list[str] = []
    for requirement in extras[extra]:
        own = _SELF.match(requirement.replace(" ", ""))
        if own and own["name"] == project["name"]:
            nested = [item for name in own["extras"].split(",")
                      for item in extra_requirements(name, pyproject)]
        else:
            nested = [requirement]
        found += [item for item in nested if item not in found]
    return found


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: extra_requirements.py EXTRA")
    print("\n".join(extra_requirements(sys.argv[1])))
