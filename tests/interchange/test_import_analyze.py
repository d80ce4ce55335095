"""After an import the planner's statistics are refreshed when the import changed enough of
the table: ≥ 10,000 rows, ≥ 10 % of the rows the planner last counted, or a table never
analysed (a small installation's first imports)."""

from __future__ import annotations

import pytest
from django.db import connection

from interchange.services.imports import _analyze
from tests.factories import OrderLineFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _reltuples() -> float:
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'procurement_orderline'::regclass")
        return cur.fetchone()[0]


def test_small_imports_analyse_a_never_analysed_table_then_only_a_tenth_or_more():
    # given: 20 order lines in a table the planner has never counted
    OrderLineFactory.create_batch(20)
    assert _reltuples() < 0

    # when / then: the first import analyses it
    _analyze("orders", 20)
    assert _reltuples() == 20

    # a change below a tenth of what the planner knows leaves the statistics alone
    OrderLineFactory()
    _analyze("orders", 1)
    assert _reltuples() == 20

    # a tenth or more refreshes them
    _analyze("orders", 5)
    assert _reltuples() == 21
