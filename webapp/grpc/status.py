"""``ServingError`` -> gRPC status, as TF Serving answers: the error's code and its message, truncated.

The core's ``Code`` values are gRPC's canonical codes, so the translation is by number; TF Serving cuts
messages longer than 1024 characters and marks them ``...TRUNCATED`` (grpc_status_util.cc).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, NoReturn

import grpc

from serving_core.errors import INTERNAL_ERROR, Code, ServingError
from serving_core.observation import note_error

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 1024
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def status_code(code: Code) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` of a core ``Code``."""
    return _STATUS_CODES[int(code)]


def core_code(code: grpc.StatusCode) -> Code:
    """The core ``Code`` of a ``grpc.StatusCode`` (for clients of remote model servers)."""
    return Code(code.value[0])


def status_message(message: str) -> str:
    if len(message) > MESSAGE_LIMIT:
        return message[:MESSAGE_LIMIT] + "...TRUNCATED"
    return message


def abort(context: grpc.ServicerContext, error: ServingError) -> NoReturn:
    """End the RPC with the error's code and message (``context.abort`` raises)."""
    context.abort(status_code(error.code), status_message(error.message))
    raise AssertionError("unreachable: context.abort raises")


Handler = Callable[[Any, Any, Any], Any]


def rpc(method: Handler) -> Handler:
    """Run a servicer's RPC method; a ``ServingError`` ends it with its status, anything else with
    INTERNAL (and the traceback in the log)."""

    @functools.wraps(method)
    def handler(self: Any, request: Any, context: Any) -> Any:
        try:
            return method(self, request, context)
        except ServingError as error:
            failure = error
            note_error(error)
        except Exception:
            log.exception("unhandled error in %s", method.__name__)
            failure = ServingError(INTERNAL_ERROR, Code.INTERNAL)
        abort(context, failure)

    return handler
