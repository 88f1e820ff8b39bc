"""Settlement talks to the real Stripe sandboxes (localstripe + our Connect sandbox) over HTTP.

Tasks are not run eagerly here: the tests drive settlement steps themselves (what a worker does),
and the messages queued on commit stay in the broker (workers purge it when they start).
"""

import pytest

from tests.payments.conftest import (  # noqa: F401  (fixtures)
    buyer,
    buyer_with_card,
    stripe_api,
    stripe_sandbox,
    stripe_settings,
)


@pytest.fixture(autouse=True)
def eager_celery():
    yield


def settle_trade(trade_id: int) -> str:
    """Drive one trade as far as it goes now, as a worker would (unless another worker has it);
    returns its status."""
    from marketplace import settlement
    from marketplace.models import Trade

    settlement.trades_settle(trade_ids=[trade_id])
    return Trade.objects.get(pk=trade_id).status
