"""Where the tools' default folders are: beside the installed ``model_tools`` package, not the cwd.

The repository (or the folder the package is installed from in editable mode) holds ``data/``,
``models/``, ``runs/`` and ``reports/``; ``emnist-tools`` and ``python -m model_tools`` find them from
any working directory. Paths given on the command line are taken as given (relative to the cwd).
"""

from __future__ import annotations

from pathlib import Path

#: The folder holding the ``model_tools`` package (the repository root in a checkout).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
MODELS_DIR = PROJECT_ROOT / "models"
RUNS_DIR = PROJECT_ROOT / "runs"
REPORTS_DIR = PROJECT_ROOT / "reports"
DOWNLOADS_DIR = PROJECT_ROOT / "downloads"
#: The shared EMNIST files ``build-data`` reads: a sibling of the repository.
SHARED_DIR = PROJECT_ROOT.parent / "shared"
