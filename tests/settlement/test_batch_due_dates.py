"""Due dates (settlement.selectors.due_dates): scalar, pandas and SQL agree, per region."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from django.test import override_settings

from settlement.models import InvoiceLine
from settlement.selectors.due_dates import due_date_expression, due_date_for, due_dates_series
from tests.factories import HospitalFactory, RegionFactory, settleable_line

OVERRIDES = {"371000": {"PAYMENT_TERM_RULE": "end_of_next_month"}, "371002": {"PAYMENT_TERM_DAYS": 45}}


def test_default_is_acceptance_plus_30_days():
    assert due_date_for(dt.date(2026, 9, 15), "372001") == dt.date(2026, 10, 15)
    assert due_date_for(None, "372001") is None


@override_settings(POLICY_REGION_OVERRIDES=OVERRIDES)
def test_end_of_next_month_and_the_most_specific_override_wins():
    assert due_date_for(dt.date(2026, 1, 31), "371003") == dt.date(2026, 2, 28)  # 次月底
    assert due_date_for(dt.date(2026, 12, 5), "371003") == dt.date(2027, 1, 31)
    # 371002 overrides the days but inherits the city's rule
    assert due_date_for(dt.date(2026, 12, 5), "371002") == dt.date(2027, 1, 31)


@override_settings(
    POLICY_REGION_OVERRIDES={"371002": {"PAYMENT_TERM_DAYS": 45}, "371100": {"PAYMENT_TERM_RULE": "end_of_next_month"}}
)
def test_vectorised_variant_matches_the_scalar_one():
    days = [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 12, 31), dt.date(2026, 6, 15)]
    regions = ["371002", "371102", "372001", "371002"]
    got = due_dates_series(pd.Series(days), pd.Series(regions))
    assert [d.date() for d in got] == [due_date_for(d, r) for d, r in zip(days, regions, strict=True)]


@pytest.mark.django_db
@override_settings(POLICY_REGION_OVERRIDES={"371102": {"PAYMENT_TERM_RULE": "end_of_next_month"}})
def test_sql_variant_matches_the_scalar_one():
    from tests.factories import EnterpriseFactory

    d = EnterpriseFactory()
    a = settleable_line(HospitalFactory(region=RegionFactory(code="371002")), d, accepted="2026-01-31")
    b = settleable_line(HospitalFactory(region=RegionFactory(code="371102")), d, accepted="2026-01-31")
    rows = dict(
        InvoiceLine.objects.filter(pk__in=[a.pk, b.pk])
        .annotate(due=due_date_expression("delivery_line__accepted_date", "hospital__region__code"))
        .values_list("pk", "due")
    )
    due = {k: v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10]) for k, v in rows.items()}
    assert due[a.pk] == dt.date(2026, 3, 2) and due[b.pk] == dt.date(2026, 2, 28)
