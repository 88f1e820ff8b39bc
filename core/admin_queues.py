"""The moderators' work queues shown with their counts on the admin index (issue 14).

Each app registers its queues from its `admin.py`: a label, a function counting what waits (one
query, whatever the table's size) and the changelist URL already filtered to those rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise


@dataclass(frozen=True)
class Queue:
    key: str
    label: str | Promise
    count: Callable[[], int]
    # the admin URL name ("admin:listings_listing_changelist") and the query string of its filter
    url_name: str
    query: str = ""
    # what a moderator should look at first sorts first
    order: int = 100

    @property
    def url(self) -> str:
        return reverse(self.url_name) + (f"?{self.query}" if self.query else "")


_queues: dict[str, Queue] = {}


def register(queue: Queue) -> None:
    _queues[queue.key] = queue


def queues() -> list[Queue]:
    return sorted(_queues.values(), key=lambda q: (q.order, q.key))
