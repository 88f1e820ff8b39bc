"""Reading RFC 9457 problem details answers (core.api_errors) in tests."""

from __future__ import annotations


def fields_at_fault(response) -> set[str]:
    """The top-level body fields (or query parameters) named by the answer's `errors` pointers."""
    return {_top(error["pointer"]) for error in response.json().get("errors", [])}


def field_of(response) -> str | None:
    """The one field a service error names (its single `errors` item), or None."""
    errors = response.json().get("errors", [])
    assert len(errors) <= 1, errors
    return _top(errors[0]["pointer"]) if errors else None


def _top(pointer: str) -> str:
    if pointer.startswith("#/query/"):
        return pointer.removeprefix("#/query/")
    return pointer.split("/")[1] if pointer else ""
