"""Errors that services raise for bad input. Views turn them into 4xx responses or form errors.

Every error carries a machine-readable `code` (listed in core.problems, one code per condition), a
human `message` and, where one field is at fault, its name. Raised before anything is written, or
inside the transaction that rolls back. Under /api/ they become RFC 9457 problem details
(core.api_errors).
"""

from __future__ import annotations

from typing import Any

from core.problems import field_pointer, problem_body


class ServiceError(Exception):
    status_code = 400

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_problem(self, instance: str, *, in_query: bool = False) -> dict[str, Any]:
        """The problem details document (core.problems); a field at fault is its one `errors` item."""
        errors = None
        if self.field:
            errors = [
                {"pointer": field_pointer([self.field], in_query), "code": self.code, "detail": self.message}
            ]
        return problem_body(
            status=self.status_code, code=self.code, detail=self.message, instance=instance, errors=errors
        )


class InvalidInput(ServiceError):
    status_code = 422


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409
