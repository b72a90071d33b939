"""Where a container's model is: SageMaker's model directory, or a model folder given by its own path.

The model server reads a folder of versions (``<base>/<name>/<version>/``). Amazon SageMaker unpacks the
model's archive into ``/opt/ml/model`` in one of three shapes, all accepted here:

* TF Serving's version layout: ``/opt/ml/model/1/``, ``/opt/ml/model/2/`` ...;
* one named model of versions: ``/opt/ml/model/emnist/1/`` (the name is the folder's);
* a single version: ``/opt/ml/model/saved_model.pb`` and/or ``model.onnx``, served as version 1.

TF Serving's ``--model_base_path`` names a model's own folder whatever it is called; the settings read a
base path ending in the model's name as that folder. Both become a base path of that form through a
symbolic link in a folder of links (the model's files are never copied or written).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emnist_contract import layout

#: Where SageMaker puts the model (its container contract).
SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")
#: Files that make a folder one version of a model (either engine's).
VERSION_FILES = (layout.SAVED_MODEL_FILE, layout.ONNX_FILE)


class ModelFolderError(ValueError):
    """The model directory holds no model in a layout the server reads; the message says what it holds."""


@dataclass(frozen=True)
class ModelFolder:
    name: str
    #: The folder of versions, or the one version's own folder when ``single_version``.
    path: Path
    single_version: bool = False


def _versions(folder: Path) -> list[Path]:
    return [child for child in folder.iterdir() if child.name.isdigit() and child.is_dir()]


def _is_version(folder: Path) -> bool:
    return any((folder / name).is_file() for name in VERSION_FILES)


def find_model(root: Path, default_name: str) -> ModelFolder:
    """The model in ``root`` (SageMaker's model directory), in any of the three layouts above."""
    if not root.is_dir():
        raise ModelFolderError(f"the model directory {root} does not exist (mount the model there)")
    if _versions(root):
        return ModelFolder(default_name, root)
    if _is_version(root):
        return ModelFolder(default_name, root, single_version=True)
    named = [child for child in root.iterdir() if child.is_dir() and _versions(child)]
    if len(named) == 1:
        return ModelFolder(named[0].name, named[0])
    contents = sorted(child.name for child in root.iterdir())[:10]
    found = f"{len(named)} model folders" if named else f"only {contents}" if contents else "nothing"
    raise ModelFolderError(
        f"{root} holds {found}: the server reads version folders ({root}/1/{layout.SAVED_MODEL_FILE}), "
        f"one model's folder of versions ({root}/<name>/1/) or one version's files "
        f"({' or '.join(VERSION_FILES)})")


def link_base_path(model: ModelFolder, links: Path) -> Path:
    """A base path whose ``<name>`` entry is the model's folder of versions (``EMNIST_MODEL_BASE_PATH``):
    ``links/<name>`` links to the folder, or, for a single version, ``links/<name>/1`` to it."""
    entry = links / model.name
    if model.single_version:
        entry.mkdir(parents=True, exist_ok=True)
        _replace_link(entry / "1", model.path)
    else:
        links.mkdir(parents=True, exist_ok=True)
        _replace_link(entry, model.path)
    return links


def _replace_link(link: Path, target: Path) -> None:
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target.resolve(), target_is_directory=True)
