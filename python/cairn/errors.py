"""The one exception type of the SDK."""

from __future__ import annotations


class CairnError(Exception):
    """An error answered by the Cairn server, or a failure to reach it.

    Attributes:
        error_code: the server's error code ("INVALID_PARAMETER_VALUE",
            "RESOURCE_DOES_NOT_EXIST", ...), or "UNAVAILABLE" when the server could not be
            reached, or "BAD_RESPONSE" when its answer was not the expected JSON.
        message: the server's message (it names the field, file, line or value at fault).
        status_code: the HTTP status, or None when no answer came.
    """

    def __init__(self, error_code: str, message: str, status_code: int | None = None):
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message
        self.status_code = status_code
