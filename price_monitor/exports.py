"""Output tables of price monitoring (``manage.py export`` and the API find them here):

- ``price_index``: the Laspeyres index per month and category for a region;
- ``credit_records``: per enterprise, its confirmed price alerts and credit level.

Both are scoped to the caller: a region outside the user's answers no rows.
"""

from __future__ import annotations

from interchange.exports import register_export
from price_monitor.selectors.alerts import credit_summaries
from price_monitor.selectors.regions import region_visible, user_default_region
from price_monitor.services.index import CATEGORIES, price_index_series

PRICE_INDEX_COLUMNS = ("region_code", "category", "base_period", "period", "value", "items", "basket_items", "coverage")
CREDIT_RECORD_COLUMNS = (
    "enterprise_code",
    "enterprise_name",
    "level",
    "confirmed",
    "high_or_worse",
    "last_confirmed_period",
)


@register_export("price_index", columns=PRICE_INDEX_COLUMNS, filters=("region", "period"))
def price_index_rows(*, user, region: str | None = None, period: str | None = None, **_unused):
    """Every month up to ``period`` (default all) of both categories; base = first month."""
    if not region:
        default = user_default_region(user)
        region = default.code if default else None
    if not region or not region_visible(user, region):
        return
    for category in CATEGORIES:
        series = price_index_series(region_code=region, category=category)
        base = series[0].period if series else ""
        for p in series:
            if period and p.period > period:
                continue
            yield (region, category, base, p.period, p.value, p.items, p.basket_items, p.coverage)


@register_export("credit_records", columns=CREDIT_RECORD_COLUMNS)
def credit_record_rows(*, user, **_unused):
    for s in credit_summaries(user):
        worse = s.by_severity.get("high", 0) + s.by_severity.get("critical", 0)
        yield (s.enterprise_code, s.enterprise_name, s.level, s.confirmed, worse, s.last_confirmed_period)
