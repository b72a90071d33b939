"""Which signature a request runs, and TF Serving's checks of it, on a version's SignatureDefs.

One set of rules for every backend: the in-process service reads the SignatureDefs from its engine, the
client of remote model servers from their GetModelMetadata answer, and both refuse in the same words
(TF Serving's), so a front end answers the same whether the model runs here or elsewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emnist_contract.signatures import (
    CLASSES_KEY,
    CLASSIFY_INPUT_KEY,
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    SCORES_KEY,
)
from serving_core.errors import InvalidArgumentError
from serving_core.request import InferenceRequest, SignatureInput


def requested_signature(request: InferenceRequest, default: str) -> str:
    """The signature the request runs: the one its body names, else its model spec's, else ``default``."""
    named = "" if isinstance(request.inputs, np.ndarray) else request.inputs.signature_name()
    return named or request.spec.signature_name or default


def signature_def(signature_defs: dict[str, Any], signature: str) -> dict[str, Any]:
    """One SignatureDef (as JSON), or TF Serving's refusal of a name the version does not serve."""
    definition = signature_defs.get("signature_def", {}).get(signature)
    if definition is None or signature.startswith("__"):
        raise InvalidArgumentError(f'Serving signature name: "{signature}" not found in signature def')
    return definition


def single_input(signature_defs: dict[str, Any], signature: str) -> SignatureInput:
    """The one input of a signature (its name and dtype); this server feeds signatures with one input."""
    inputs = signature_def(signature_defs, signature).get("inputs", {})
    if len(inputs) != 1:
        raise InvalidArgumentError(f"signature {signature} takes {len(inputs)} inputs; this server feeds one")
    ((name, info),) = inputs.items()
    return SignatureInput(name, info.get("dtype", ""))


def output_dtypes(signature_defs: dict[str, Any], signature: str) -> dict[str, str]:
    """Output name -> TF dtype of a signature."""
    outputs = signature_def(signature_defs, signature).get("outputs", {})
    return {name: info.get("dtype", "DT_FLOAT") for name, info in outputs.items()}


def refuse_other_than_default(signature_defs: dict[str, Any], signature: str) -> None:
    """Routes that answer ``serving_default``'s scores (labels, top k) refuse any other signature: an
    unknown one in TF Serving's words, a known one saying where it is answered."""
    if signature == DEFAULT_SIGNATURE:
        return
    signature_def(signature_defs, signature)
    raise InvalidArgumentError(
        f"signature {signature} is not answered here: this route gives {DEFAULT_SIGNATURE}'s scores, "
        "labels and top k; use :predict for other signatures")


def classification_outputs(signature_defs: dict[str, Any], signature: str) -> set[str]:
    """Which of ``classes`` / ``scores`` a classify signature gives, with TF Serving's checks and errors."""
    definition = signature_defs.get("signature_def", {}).get(signature)
    if definition is None:
        raise InvalidArgumentError(f"No signature was found with the name: {signature}")
    method = definition.get("method_name", "")
    if method != CLASSIFY_METHOD:
        raise InvalidArgumentError(
            f"Expected classification signature method_name to be {CLASSIFY_METHOD}. Was: {method}"
        )
    inputs = definition.get("inputs", {})
    if len(inputs) != 1:
        raise InvalidArgumentError("Expected one input Tensor.")
    if CLASSIFY_INPUT_KEY not in inputs:
        raise InvalidArgumentError(f"No classification inputs found in SignatureDef {signature}")
    outputs = set(definition.get("outputs", {})) & {CLASSES_KEY, SCORES_KEY}
    if not outputs:
        raise InvalidArgumentError(
            f'Expected classification signature outputs to contain at least one of "{CLASSES_KEY}" or '
            f'"{SCORES_KEY}". Signature was: {signature}'
        )
    return outputs
