"""The admin's market dashboard (/admin/market/): the market's last 30 days drawn by the server
(core/charts.py), read by marketplace.selectors_market in a fixed number of queries. Registered
on the admin site from marketplace/admin.py, so only staff the admin lets in see it."""

from __future__ import annotations

from datetime import date

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import formats
from django.utils.translation import gettext as _

from accounts import taxonomy
from core.charts import Chart, column_chart, row_chart
from core.money import format_money
from marketplace import selectors_market

CURRENCY = "EUR"


def _ticks(days: list[date]) -> list[str]:
    """Day numbers under every fifth column and the last one: 30 columns, readable ticks."""
    last = len(days) - 1
    return [str(day.day) if (last - i) % 5 == 0 else "" for i, day in enumerate(days)]


def _per_day(
    slug: str,
    title: str,
    description: str,
    value_heading: str,
    days: list[date],
    values: list[int],
    money: bool,
) -> Chart:
    shown = [
        format_money(v, CURRENCY) if money else formats.number_format(v, force_grouping=True) for v in values
    ]
    return column_chart(
        slug=slug,
        title=title,
        description=description,
        label_heading=_("Day"),
        value_heading=value_heading,
        items=[
            (formats.date_format(day, "DATE_FORMAT"), v, s)
            for day, v, s in zip(days, values, shown, strict=True)
        ],
        ticks=_ticks(days),
        height=160,
    )


def _charts(overview: selectors_market.MarketOverview) -> list[Chart]:
    trades, payouts = overview.trades, overview.payouts
    consents, revocations = overview.consents, overview.revocations
    categories = dict(taxonomy.DataCategory.choices)
    return [
        _per_day(
            "market-trades",
            _("Trades per day"),
            _("A column per day, the last 30 days: trades concluded (failed and voided ones left out)."),
            _("Trades"),
            trades.days,
            trades.values["trades"],
            money=False,
        ),
        _per_day(
            "market-value",
            _("Value traded per day"),
            _("A column per day, the last 30 days: what buyers pay for the records of those trades."),
            _("Value"),
            trades.days,
            trades.values["value"],
            money=True,
        ),
        row_chart(
            slug="market-prices",
            title=_("Clearing price per category"),
            description=_(
                "A bar per category of data: the average price per record of the sales that held it, last 30 days."
            ),
            label_heading=_("Category"),
            value_heading=_("Average price per record"),
            items=[
                (
                    str(categories.get(code, code)).split(" (")[0],
                    price,
                    _("%(price)s (%(lines)s sales)")
                    % {"price": format_money(price, CURRENCY), "lines": lines},
                )
                for code, (price, lines) in overview.clearing_prices.items()
            ],
        ),
        _per_day(
            "market-payouts",
            _("Payouts per day"),
            _("A column per day, the last 30 days: amounts paid out to sellers (failed ones left out)."),
            _("Paid out"),
            payouts.days,
            payouts.values["amount"],
            money=True,
        ),
        _per_day(
            "market-consents-granted",
            _("Consents given per day"),
            _("A column per day, the last 30 days: consents granted or renewed by sellers."),
            _("Consents given"),
            consents.days,
            consents.values["granted"],
            money=False,
        ),
        _per_day(
            "market-consents-withdrawn",
            _("Consents withdrawn per day"),
            _("A column per day, the last 30 days: consents sellers withdrew."),
            _("Consents withdrawn"),
            consents.days,
            consents.values["withdrawn"],
            money=False,
        ),
        _per_day(
            "market-revocations",
            _("Access revoked per day"),
            _(
                "A column per day, the last 30 days: buyers' access to data ended early (consent withdrawn, erasure)."
            ),
            _("Revoked"),
            revocations.days,
            revocations.values["revoked"],
            money=False,
        ),
        row_chart(
            slug="market-notices",
            title=_("Deletion notices"),
            description=_(
                "Deletion notices buyers have not confirmed yet: before their deadline, and overdue."
            ),
            label_heading=_("Notices"),
            value_heading=_("Number"),
            items=[
                (_("Outstanding"), overview.notices_outstanding, str(overview.notices_outstanding)),
                (_("Overdue"), overview.notices_overdue, str(overview.notices_overdue)),
            ],
        ),
    ]


def market_dashboard(request: HttpRequest) -> HttpResponse:
    overview = selectors_market.market_overview()
    trades = overview.trades.values
    context = {
        **admin.site.each_context(request),
        "title": _("Market dashboard"),
        "figures": [
            (_("Trades, 30 days"), formats.number_format(sum(trades["trades"]), force_grouping=True)),
            (_("Value, 30 days"), format_money(sum(trades["value"]), CURRENCY)),
            (_("Paid out, 30 days"), format_money(sum(overview.payouts.values["amount"]), CURRENCY)),
            (_("Active consents"), formats.number_format(overview.active_consents, force_grouping=True)),
            (_("Deletion notices overdue"), str(overview.notices_overdue)),
        ],
        "charts": _charts(overview),
    }
    return TemplateResponse(request, "admin/marketplace/market_dashboard.html", context)
