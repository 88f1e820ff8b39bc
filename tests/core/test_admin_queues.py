"""The moderators' queues on the admin index (core/admin_queues.py, registered by each app's
admin.py): each count is right, costs one query, and its link lists exactly those rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import admin_queues
from tests.admin_queue_rows import EXPECTED, queue_rows

pytestmark = pytest.mark.django_db


def test_each_queue_counts_its_rows_in_one_query():
    queue_rows()
    counted = {}
    for queue in admin_queues.queues():
        if queue.key not in EXPECTED:
            continue  # another part of the admin's queues
        with CaptureQueriesContext(connection) as queries:
            counted[queue.key] = queue.count()
        assert len(queries) == 1, (queue.key, [q["sql"] for q in queries])
    assert counted == EXPECTED


def test_each_queue_links_to_its_rows(moderator_client):
    queue_rows()
    for queue in admin_queues.queues():
        if queue.key not in EXPECTED:
            continue
        page = moderator_client.get(queue.url)
        assert page.status_code == 200, queue.url
        changelist = page.context_data["cl"]
        # the filter of the link is one the list offers (an unknown one would redirect with ?e=1)
        assert changelist.result_count == EXPECTED[queue.key], queue.key
        assert changelist.has_filters and changelist.has_active_filters, queue.key
        assert changelist.search_fields, queue.key


def test_the_index_shows_the_counts_and_highlights_waiting_queues(moderator_client):
    queue_rows()

    page = moderator_client.get("/admin/").content.decode()

    assert 'class="queue-payouts-failed queue-has-work"' in page
    assert '<span class="queue-count queue-waiting">3</span>' in page  # flagged buyers
    assert 'href="/admin/market/"' in page


def test_an_empty_queue_is_not_highlighted(moderator_client):
    page = moderator_client.get("/admin/").content.decode()

    assert 'class="queue-disputes-open"' in page
    assert "queue-waiting" not in page.split('class="queue-disputes-open"')[1].split("</tr>")[0]
