"""Every Celery task of the app survives a worker killed under it and never runs twice at once:
acknowledged late, given back when its worker is lost, bounded by a soft and a hard time limit,
and the broker's visibility timeout (after which Redis hands an unacknowledged message to another
worker) longer than any task's hard limit and any retry countdown."""

from __future__ import annotations

import pytest
from celery import Task

from config.celery_app import app

# A reserved message can wait a little for a pool child, and a killed task's hard limit is
# enforced by its parent's timer: the hard limit must end this long before the message is redelivered.
VISIBILITY_MARGIN_SECONDS = 300


def app_tasks() -> dict[str, Task]:
    app.loader.import_default_modules()  # autodiscover every app's tasks.py, as a worker does
    return {name: task for name, task in sorted(app.tasks.items()) if not name.startswith("celery.")}


def visibility_timeout() -> float:
    return float(app.conf.broker_transport_options["visibility_timeout"])


def test_the_app_registers_the_tasks_of_every_tasks_module():
    prefixes = {name.split(".tasks.")[0] for name in app_tasks()}
    assert {"accounts", "marketplace", "payments"} <= prefixes


def test_the_app_wide_defaults():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.task_time_limit + VISIBILITY_MARGIN_SECONDS <= visibility_timeout()


@pytest.mark.parametrize("name", list(app_tasks()))
def test_every_task_is_acked_late_bounded_in_time_and_shorter_than_the_visibility_timeout(name):
    task = app_tasks()[name]
    time_limit = task.time_limit or app.conf.task_time_limit
    soft_time_limit = task.soft_time_limit or app.conf.task_soft_time_limit

    assert task.acks_late is True, "acknowledged only once it has run"
    assert task.reject_on_worker_lost is True, "given back to the queue when its worker dies"
    assert time_limit and soft_time_limit, "a soft and a hard time limit"
    assert 0 < soft_time_limit < time_limit, "the soft limit (an exception the task can handle) comes first"
    assert time_limit + VISIBILITY_MARGIN_SECONDS <= visibility_timeout(), (
        f"{name}: hard limit {time_limit}s too close to the visibility timeout: it would be redelivered while it runs"
    )


@pytest.mark.parametrize(
    "name", [name for name, task in app_tasks().items() if getattr(task, "autoretry_for", ())]
)
def test_no_retry_countdown_outlasts_the_visibility_timeout(name):
    """A retry is a message with an ETA that the worker holds unacknowledged until then."""
    task = app_tasks()[name]
    if getattr(task, "retry_backoff", False):
        longest = getattr(task, "retry_backoff_max", 600)  # Celery's default cap
    else:
        longest = task.default_retry_delay
    assert longest < visibility_timeout()
