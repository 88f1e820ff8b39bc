"""The market's invariants as a test helper: `assert_invariants()` fails with every violation."""

from __future__ import annotations

from typing import Any

from marketplace import invariants


def assert_invariants(**options: Any) -> None:
    found = invariants.violations(**options)
    assert not found, "invariants broken:\n" + "\n".join(str(v) for v in found[:50])
