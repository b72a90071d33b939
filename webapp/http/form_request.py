"""The app's Flask Request class: uploaded files stay in memory, and form refusals name their limit.

Why: Werkzeug spools a multipart file larger than 500 KB to a temporary file, so an upload would reach
the disk; here the whole body is already in memory and within MAX_CONTENT_LENGTH
(``webapp.http.request_body``), so its files are kept in ``BytesIO`` objects too. And Werkzeug refuses a
form with too many parts, or a field or part header (a file name) over its memory limit, with the same
bare 413 as a body over MAX_CONTENT_LENGTH; the refusal here says which of MAX_FORM_PARTS and
MAX_FORM_MEMORY_SIZE it was.
"""

from __future__ import annotations

import io
from typing import IO, Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from serving_core.errors import ResourceExhaustedError
from webapp.http.request_body import raise_body_refusal


class FormTooLargeError(ResourceExhaustedError):
    """A multipart form over MAX_FORM_PARTS or MAX_FORM_MEMORY_SIZE."""

    http_status = 413


class InMemoryFormRequest(Request):
    """``flask.Request`` whose form files are ``BytesIO`` and whose form refusals name their limit."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return io.BytesIO()

    def get_data(self, *args: Any, **kwargs: Any) -> Any:
        raise_body_refusal(self.environ)
        return super().get_data(*args, **kwargs)

    def _load_form_data(self) -> None:
        raise_body_refusal(self.environ)
        try:
            super()._load_form_data()
        except RequestEntityTooLarge:
            raise self._form_limit_error() from None

    def _form_limit_error(self) -> FormTooLargeError:
        boundary = self.mimetype_params.get("boundary", "")
        body: Any = self.environ.get("wsgi.input")
        data = body.getvalue() if isinstance(body, io.BytesIO) else b""
        parts = data.count(b"--" + boundary.encode("latin-1", "replace")) - 1 if boundary else 0
        if self.max_form_parts is not None and parts > self.max_form_parts:
            return FormTooLargeError(
                f"the form has {parts} parts, over the limit MAX_FORM_PARTS={self.max_form_parts}",
                limit="MAX_FORM_PARTS")
        return FormTooLargeError(
            "a form field or part header (a file name, say) is larger than the limit MAX_FORM_MEMORY_SIZE="
            f"{self.max_form_memory_size} bytes (file contents only count against MAX_CONTENT_LENGTH)",
            limit="MAX_FORM_MEMORY_SIZE")
