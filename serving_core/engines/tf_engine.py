"""The SavedModel in-process, run the way TensorFlow Serving runs it: a TF1 Session callable.

Why a Session callable: the TF2 signature call spends most of a batch-1 call in Python while holding the
GIL. A ``Session`` callable made from ``CallableOptions`` (C++ ``Session::MakeCallable``, as TF Serving
does) runs the same graph and releases the GIL for the whole call. Two details matter: the public
``make_callable`` with a ``feed_list`` falls back to a full ``Session.run`` per call (feed/fetch handling
in Python), and with an inter-op pool every call hands the graph to a pool thread and waits for it; a
negative inter-op setting (TensorFlow's convention) runs the graph in the caller's thread instead. If the
SavedModel cannot be opened this way, predict keeps using the TF2 signature. Other signatures (named
ones, ``classify``) run as TF2 signature functions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract import layout
from emnist_contract.signatures import DEFAULT_SIGNATURE, SCORES_KEY, TAG
from serving_core.engines.base import NO_TENSORFLOW, Engine, EngineError, SignatureError, check_images
from serving_core.engines.signature_defs import read_signature_defs

log = logging.getLogger(__name__)


class TensorFlowEngine(Engine):
    """The version's SavedModel through TensorFlow (see the module doc)."""

    kind = "tensorflow"
    _threads_configured = False
    _threads_lock = threading.Lock()

    def __init__(self, version_dir: Path, intra_op_threads: int = 0, inter_op_threads: int = 0) -> None:
        super().__init__(version_dir)
        if not (self.version_dir / layout.SAVED_MODEL_FILE).is_file():
            raise EngineError(f"{self.version_dir}: no saved_model.pb (not a SavedModel version folder)")
        try:
            self.signature_defs = read_signature_defs(self.version_dir)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        tf = self._import_tensorflow(intra_op_threads, inter_op_threads)
        try:
            self._model = tf.saved_model.load(str(self.version_dir), tags=[TAG])
        except Exception as exc:  # TensorFlow raises many types for corrupt or partial models
            raise EngineError(f"{self.version_dir}: cannot load the SavedModel: {exc}") from exc
        self._tf = tf
        self._signatures = dict(self._model.signatures)
        if DEFAULT_SIGNATURE not in self._signatures:
            raise EngineError(f"{self.version_dir}: the SavedModel has no {DEFAULT_SIGNATURE!r} signature")
        default = self._signatures[DEFAULT_SIGNATURE]
        input_names = list(default.structured_input_signature[1])
        output_names = list(default.structured_outputs)
        if len(input_names) != 1:
            raise EngineError(f"{self.version_dir}: {DEFAULT_SIGNATURE} takes inputs {input_names}, not one")
        if SCORES_KEY in output_names:
            self._output_name = SCORES_KEY
        elif len(output_names) == 1:
            self._output_name = output_names[0]
        else:
            raise EngineError(
                f"{self.version_dir}: {DEFAULT_SIGNATURE} has outputs {output_names} and none is "
                f"{SCORES_KEY!r}"
            )
        self._input_name = input_names[0]
        self._default = default
        self._session, self._predict_callable = self._open_session(tf, intra_op_threads, inter_op_threads)

    def _open_session(self, tf: Any, intra_op_threads: int, inter_op_threads: int) -> tuple[Any, Any]:
        """The default signature as a TF1 Session callable, or (None, None) to use the TF2 call."""
        try:
            config = tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=max(intra_op_threads, 0),
                inter_op_parallelism_threads=inter_op_threads,
            )
            graph = tf.Graph()
            session = tf.compat.v1.Session(graph=graph, config=config)
            with graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(session, [TAG], str(self.version_dir))
            signature = meta_graph.signature_def[DEFAULT_SIGNATURE]
            from tf_serving_protos.tensorflow.core.protobuf.config_pb2 import CallableOptions

            options = CallableOptions(
                feed=[signature.inputs[self._input_name].name],
                fetch=[signature.outputs[self._output_name].name],
            )
            # Private in Python, but Keras's TF1 backend uses it; it keeps the callable handle alive.
            run_callable: Callable = session._make_callable_from_options(options)
        except Exception as exc:  # any failure: the TF2 signature path still serves
            log.warning(
                "%s: no TF1 session for predict (%s); using the TF2 signature call", self.version_dir, exc
            )
            return None, None

        def predict(batch: np.ndarray) -> np.ndarray:
            return run_callable(batch)[0]

        return session, predict

    @classmethod
    def _import_tensorflow(cls, intra_op_threads: int, inter_op_threads: int) -> Any:
        try:
            import tensorflow as tf  # heavy: only for this engine
        except ModuleNotFoundError as exc:
            if exc.name != "tensorflow":
                raise
            raise EngineError(NO_TENSORFLOW) from None

        with cls._threads_lock:
            if not cls._threads_configured:
                try:
                    if intra_op_threads:
                        tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
                    if inter_op_threads:
                        # Negative (the session runs in the caller's thread): one pool thread for eager.
                        tf.config.threading.set_inter_op_parallelism_threads(max(inter_op_threads, 1))
                except RuntimeError:  # the runtime was already initialised by someone else
                    log.warning("TensorFlow already initialised: thread settings not applied")
                cls._threads_configured = True
        return tf

    def predict(self, images: np.ndarray) -> np.ndarray:
        batch = check_images(images)
        if self._predict_callable is not None:
            return self._predict_callable(batch)
        outputs = self._default(**{self._input_name: self._tf.constant(batch)})
        return outputs[self._output_name].numpy()

    def run_signature(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        expected = self.signature_inputs(signature_name)
        if set(inputs) != set(expected):
            raise SignatureError(
                f"signature {signature_name} takes inputs {sorted(expected)}, got {sorted(inputs)}"
            )
        function = self._signatures[signature_name]
        tensors = {name: self._tf.constant(value) for name, value in inputs.items()}
        try:
            outputs = function(**tensors)
        except (self._tf.errors.InvalidArgumentError, TypeError, ValueError) as exc:
            # TensorFlow's text names graph nodes and kernels: the log keeps it, the client gets our words.
            log.info("signature %s refused its inputs: %s", signature_name, exc)
            info = ", ".join(f"{name}: {spec.get('dtype', '?')} {_shape_text(spec)}"
                             for name, spec in expected.items())
            raise SignatureError(
                f"signature {signature_name} could not run on these inputs: they do not match its inputs "
                f"({info}); GetModelMetadata describes them") from None
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def close(self) -> None:
        self._signatures.clear()
        self._default = None
        self._model = None
        self._predict_callable = None
        if self._session is not None:
            self._session.close()
            self._session = None


def _shape_text(tensor_info: dict) -> str:
    """A TensorInfo's shape as ``[-1, 784]`` (-1: any size)."""
    dims = tensor_info.get("tensor_shape", {}).get("dim", [])
    return "[" + ", ".join(str(dim.get("size", -1)) for dim in dims) + "]"
