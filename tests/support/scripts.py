"""Running this checkout's bench scripts as users run them: ``python bench/<script>.py``, in a subprocess.

``PYTHONPATH`` names this checkout, so the script imports this checkout's packages whatever is installed
in the environment (the script's own folder, ``bench/``, is on its path as for any script).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.paths import REPO


def run_bench_script(script: str, *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
