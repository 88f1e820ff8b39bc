"""`field__any=[…]`: membership in a list passed as one array parameter.

`field__in=[…]` renders one placeholder per value and prepares every value in Python, which
costs milliseconds for the thousands of ids a consent sweep batch hands its cascades. On
PostgreSQL `field__any` sends `col = ANY('{1,2,…}'::bigint[])`: one array literal, which the
server parses as one constant (psycopg2 would send a list as `ARRAY[1,2,…]`, one expression per
element to parse and coerce: ~8 ms for 5,000 ids), and the same SQL text whatever the length.
Elsewhere (SQLite for `make run`) it falls back to `IN`. Values are ints (ids): a list, or
`Ids(…)` for thousands of them. Registered on IntegerField and ForeignKey by CoreConfig.ready.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models import Lookup


class Ids:
    """Ids for `field__any`, wrapped so that Django's query builder does not walk them one by
    one as it does lists (it looks each value up as a possible expression or model instance)."""

    __slots__ = ("values",)

    def __init__(self, values: Iterable[int]) -> None:
        self.values = [int(v) for v in values]


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[int]:
        return self.rhs.values if isinstance(self.rhs, Ids) else [int(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, "{" + ",".join(map(str, values)) + "}"]
        if not values:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    for field in (models.IntegerField, models.ForeignKey):
        field.register_lookup(AnyOf)
