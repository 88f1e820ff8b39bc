"""Errors that services raise for bad input. Views turn them into 4xx responses or form errors.

Every error carries a machine-readable `code`, a human `message` and, where one field is at
fault, its name. Raised before anything is written, or inside the transaction that rolls back.
"""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "detail": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(ServiceError):
    status_code = 422


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409
