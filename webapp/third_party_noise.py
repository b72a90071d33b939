"""Silencing what other libraries print while the server starts, unless ``VERBOSE`` (``--verbose``).

Why: on a machine without a GPU, TensorFlow's import and model load print a CUDA error ("failed call to
cuInit") in every process, oneDNN and CPU-instruction notices, and a deprecation warning for the loader
the tensorflow engine uses (TF Serving's own), none of which a person starting the server can act on,
and which bury the line saying where the server listens. A model that fails to load is still reported
by the server's own log, with TensorFlow's error in its message.

``quiet_third_party`` is called before TensorFlow is imported: in the launcher (``webapp.model_server``:
the environment then reaches gunicorn, and the gRPC workers are forked from it) and in each gunicorn worker
(``webapp.wsgi``, for gunicorn started on its own). TensorFlow prints its first lines while it is being
imported, before it reads ``TF_CPP_MIN_LOG_LEVEL``, so a worker of the tensorflow engine imports it
first with ``import_tensorflow_quietly``, its standard error sent to /dev/null meanwhile (only the worker's
main thread runs then: nothing of the server's own is lost).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

from serving_core.engines import EngineError, resolve_engine

#: Read by TensorFlow's C++ side when it is imported: 3 keeps only fatal messages (its errors reach the
#: server as Python exceptions). A value already in the environment wins.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}
#: Python loggers of libraries that log notices at start-up: errors only.
QUIET_LOGGERS = ("tensorflow", "absl", "h5py")
#: Modules whose deprecation and future warnings are theirs to fix, not the person's running the server.
THIRD_PARTY_MODULES = r"(tensorflow|tf_keras|keras|absl|google\.protobuf|h5py|flatbuffers|onnxruntime)(\.|$)"


def quiet_third_party(verbose: bool) -> None:
    """TensorFlow's C++ log, these libraries' Python loggers and their deprecation warnings, silenced
    (nothing changes when ``verbose``)."""
    if verbose:
        return
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=THIRD_PARTY_MODULES)


def import_tensorflow_quietly(engine: str, verbose: bool) -> None:
    """Import TensorFlow now when ``engine`` is (or ``auto`` resolves to) tensorflow, with standard error
    silenced while it loads; nothing when ``verbose``. An import that fails is left to the engine, which
    reports it when it loads a model."""
    if verbose:
        return
    try:
        if resolve_engine(engine) != "tensorflow":
            return
    except (EngineError, ValueError):
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        with contextlib.suppress(ImportError):
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
