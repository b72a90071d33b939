"""The refusal every entry point must give for each bad input: one table, and the one normalisation allowed.

A refusal is the same everywhere: the gRPC code of the ``ServingError`` (on gRPC, and inside a GraphPipe
answer), the HTTP status it maps to (``serving_core.errors.HTTP_STATUS``, or the status the error names
for itself: 413 for pixels over a limit) and the message. The only difference a protocol may add is a
locator in front of the message (``instance 3: ``, ``example 3: ``, ``input 'images': ``...), which
``without_locator`` takes away before comparing.

The servers run with small limits so that each case is cheap (``deployments.PROFILES``):
MAX_INSTANCES=8, MAX_DECODED_IMAGES=4, MAX_DECODED_PIXELS=1,500,000; REQUEST_DEADLINE_SECONDS=1e-6 for
the expired deadline; the TensorFlow engine for the bad tf.Example (Predict on the ``classify``
signature runs the SavedModel's own graph, which parses the example); batching with a 2 s batch
timeout and REQUEST_DEADLINE_SECONDS=0.5 for a deadline that passes in the batch queue (0.5 s, not less:
a loaded machine may take a few tenths of a second to start a request, which is then refused as busy).

| case | what is sent | code | HTTP |
|---|---|---|---|
| too_many_image_files | 5 small character PNGs | INVALID_ARGUMENT | 400 |
| too_many_pixels | 2 PNGs of 1000x1000 (small files): 2,000,000 pixels | RESOURCE_EXHAUSTED | 413 |
| expired_deadline | 1 image, REQUEST_DEADLINE_SECONDS=1e-6 | UNAVAILABLE | 503 |
| deadline_while_queued | 1 image alone in a batch held open (answered first) | DEADLINE_EXCEEDED | 504 |
| unknown_signature | signature_name "nope" with 1 image | INVALID_ARGUMENT | 400 |
| nan | 1 image of NaN (float32) | INVALID_ARGUMENT | 400 |
| wrong_dtype | int32 [1,784] | INVALID_ARGUMENT | 400 |
| wrong_shape | float32 [2,783] | INVALID_ARGUMENT | 400 |
| too_many_instances | float32 [9,784] | INVALID_ARGUMENT | 400 |
| bad_example | a tf.Example of 783 floats (TensorFlow engine) | INVALID_ARGUMENT | 400 |
| declared_huge_shape | a tensor declared [250000,784] holding one value | INVALID_ARGUMENT | 400 |

The messages are in ``EXPECTED``. Two cases have a second wording for TF Serving's Classification API
(``:classify``, gRPC Classify): an unknown signature, which TF Serving words differently for Predict and
for Classify (this server keeps its words), and the wrong shape, which in Classify is an example of 783
pixels, worded as the bad tf.Example is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc

#: The limits the servers of the limit cases run with.
MAX_INSTANCES = 8
MAX_DECODED_IMAGES = 4
MAX_DECODED_PIXELS = 1_500_000
#: The deadline of the expired case: gone before any request can start.
EXPIRED_DEADLINE_SECONDS = 1e-6
#: The deadline of the queued case, and how long a batch that is not full waits for more requests.
QUEUED_DEADLINE_SECONDS = 0.5
BATCH_TIMEOUT_SECONDS = 2.0
#: The clients of the queued case give up after this: an answer later than it waited for the batch.
QUEUED_CLIENT_TIMEOUT_SECONDS = 1.3
#: What the signature case asks for.
UNKNOWN_SIGNATURE = "nope"
#: The signature that takes serialized tf.Example records.
CLASSIFY_SIGNATURE = "classify"
#: The declared shape of the huge-shape case (one value sent).
DECLARED_HUGE_SHAPE = (250_000, 784)


@dataclass(frozen=True)
class Refusal:
    """The expected refusal: gRPC code, HTTP status and message."""

    code: grpc.StatusCode
    http_status: int
    message: str
    #: The message TF Serving's Classification API gives instead, when it differs.
    classify_message: str | None = None
    #: Whether the message may go on with a detail in brackets (" (stopped before ...)").
    detail_allowed: bool = False

    def message_for(self, family: str) -> str:
        return self.classify_message if family == "classify" and self.classify_message else self.message

    def matches(self, message: str, family: str) -> bool:
        expected = self.message_for(family)
        if self.detail_allowed and message.startswith(expected + " (") and message.endswith(")"):
            return True
        return message == expected


INVALID = grpc.StatusCode.INVALID_ARGUMENT
#: An example of 783 pixels, in the words of the Classification API (its locator is ``example <i>: ``).
BAD_EXAMPLE_MESSAGE = "feature 'images' holds 783 floats, expected 784"

EXPECTED: dict[str, Refusal] = {
    "too_many_image_files": Refusal(
        INVALID, 400, f"{MAX_DECODED_IMAGES + 1} image files in one request is over the limit "
        f"MAX_DECODED_IMAGES={MAX_DECODED_IMAGES} (send raw pixels or .npy for larger batches)"),
    "too_many_pixels": Refusal(
        grpc.StatusCode.RESOURCE_EXHAUSTED, 413,
        "the request's image files decode to 2000000 pixels or more, over the limit "
        f"MAX_DECODED_PIXELS={MAX_DECODED_PIXELS} per request"),
    "expired_deadline": Refusal(
        grpc.StatusCode.UNAVAILABLE, 503, "the server is busy: the request waited REQUEST_DEADLINE_SECONDS="
        f"{EXPIRED_DEADLINE_SECONDS:g} s without starting; retry later"),
    "deadline_while_queued": Refusal(
        grpc.StatusCode.DEADLINE_EXCEEDED, 504,
        f"the request did not finish within REQUEST_DEADLINE_SECONDS={QUEUED_DEADLINE_SECONDS:g} s",
        detail_allowed=True),
    "unknown_signature": Refusal(
        INVALID, 400, f'Serving signature name: "{UNKNOWN_SIGNATURE}" not found in signature def',
        classify_message=f"No signature was found with the name: {UNKNOWN_SIGNATURE}"),
    "nan": Refusal(INVALID, 400, "inputs contain NaN or infinite values"),
    "wrong_dtype": Refusal(
        INVALID, 400, "tensors of int32 are not accepted: send pixels/255 as floats (float16, float32 or "
        "float64) or pixels 0-255 as uint8"),
    "wrong_shape": Refusal(
        INVALID, 400,
        "shape [2, 783] does not hold images of 784 pixels: send [N,784], [N,28,28] or [N,1,784]",
        classify_message=BAD_EXAMPLE_MESSAGE),
    "too_many_instances": Refusal(
        INVALID, 400, f"{MAX_INSTANCES + 1} instances in one request is over the limit "
        f"MAX_INSTANCES={MAX_INSTANCES}"),
    "bad_example": Refusal(INVALID, 400, BAD_EXAMPLE_MESSAGE),
    "declared_huge_shape": Refusal(
        INVALID, 400, f"{DECLARED_HUGE_SHAPE[0]} instances in one request is over the limit "
        f"MAX_INSTANCES={MAX_INSTANCES}"),
}

#: Where in a request a refusal happened, as protocols put it before the message.
_LOCATOR = re.compile(
    r"(?:instance \d+(?: \(b64\))?|example \d+|input '?images'?|input tensor|inputs|body|file '[^']*'): ")


def without_locator(message: str) -> str:
    """The message without the one locator a protocol may put in front (``instance 3: ``...)."""
    match = _LOCATOR.match(message)
    return message[match.end():] if match else message
