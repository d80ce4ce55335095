"""Imports keep the observations in step (interchange.signals.table_imported)."""

from __future__ import annotations

import pytest

from interchange.signals import table_imported
from price_monitor.models import PriceObservation
from price_monitor.receivers import covering_partitions
from tests.factories import OrderLineFactory


def test_covering_partitions_drop_what_a_larger_region_covers():
    parts = {("371000", "2026-09"), ("371002", "2026-09"), ("371302", "2026-09"), ("371002", "2026-10")}
    assert covering_partitions(parts) == [("3710", "2026-09"), ("371302", "2026-09"), ("371002", "2026-10")]


def test_many_partitions_of_a_month_become_one_per_province():
    parts = {(f"3710{i:02d}", "2026-09") for i in range(1, 12)}
    assert covering_partitions(parts) == [("37", "2026-09")]


@pytest.mark.django_db
def test_imported_orders_are_observed_after_commit(django_capture_on_commit_callbacks):
    # given order lines that the importer just wrote
    line = OrderLineFactory()
    # when the import announces its partitions and the transaction commits
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        table_imported.send(sender=None, table="orders", partitions={("371002", "2026-09")}, user=None)
    # then the partition is built (one task)
    assert len(callbacks) == 1
    assert PriceObservation.objects.filter(source="order", source_id=line.pk).exists()


@pytest.mark.django_db
def test_other_tables_do_not_rebuild(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        table_imported.send(sender=None, table="hospitals", partitions={("371002", "2026-09")}, user=None)
    assert callbacks == []
