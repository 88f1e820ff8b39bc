"""Payments queues its tasks by reference after commit: a broker that cannot take the message is
logged (the task's sweep catches up), any other error is raised."""

from __future__ import annotations

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

from payments import tasks
from payments.services._common import _queue_after_commit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_broker_outage_after_commit_is_logged_not_raised(monkeypatch, caplog):
    def broker_down(*args):
        raise BrokerUnavailable("connection refused")

    monkeypatch.setattr(tasks.payout_transfer, "delay", broker_down)
    with transaction.atomic():
        _queue_after_commit(tasks.payout_transfer, 7)

    assert "could not queue payments.tasks.payout_transfer(7,)" in caplog.text


def test_a_wrong_call_is_raised(monkeypatch):
    with pytest.raises(TypeError), transaction.atomic():
        _queue_after_commit(tasks.payout_transfer, 7, "EUR", "one too many")
