"""``import_dir`` announces its files once, merged (interchange.signals.deferred)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.management import call_command

from interchange.signals import deferred, table_imported
from tests.interchange.import_support import (
    DELIVERY_HEADER,
    INVOICE_HEADER,
    ORDER_HEADER,
    RECEIPT_HEADER,
    build_world,
    invoice_row,
    order_row,
    write_csv,
)

pytestmark = pytest.mark.django_db


def test_deferred_sends_once_per_merging_receiver_and_once_per_table_otherwise():
    merged_calls, plain_calls = [], []

    def merging(sender, *, table, partitions, user, tables=None, **kw):
        merged_calls.append((table, partitions, tables, user))

    merging.merges_tables = True

    def plain(sender, *, table, partitions, user, **kw):
        plain_calls.append((table, partitions))

    table_imported.connect(merging, weak=False, dispatch_uid="t.merging")
    table_imported.connect(plain, weak=False, dispatch_uid="t.plain")
    try:
        with deferred():
            table_imported.send(sender=None, table="deliveries", partitions={("371002", "2026-09")}, user=None)
            table_imported.send(sender=None, table="receipts", partitions={("371002", "2026-09")}, user=None)
            table_imported.send(sender=None, table="invoices", partitions={("371002", "2026-10")}, user=None)
            table_imported.send(sender=None, table="deliveries", partitions={("370200", "2026-09")}, user=None)
            assert merged_calls == [] and plain_calls == []  # held back until the end
        assert merged_calls == [
            (
                "deliveries",
                {("371002", "2026-09"), ("371002", "2026-10"), ("370200", "2026-09")},
                {
                    "deliveries": {("371002", "2026-09"), ("370200", "2026-09")},
                    "receipts": {("371002", "2026-09")},
                    "invoices": {("371002", "2026-10")},
                },
                None,
            )
        ]
        assert plain_calls == [
            ("deliveries", {("371002", "2026-09"), ("370200", "2026-09")}),
            ("receipts", {("371002", "2026-09")}),
            ("invoices", {("371002", "2026-10")}),
        ]
        # outside the block a send goes straight through
        table_imported.send(sender=None, table="orders", partitions={("371002", "2026-09")}, user=None)
        assert plain_calls[-1] == ("orders", {("371002", "2026-09")})
    finally:
        table_imported.disconnect(dispatch_uid="t.merging")
        table_imported.disconnect(dispatch_uid="t.plain")


def test_deferred_dispatches_even_when_the_block_fails():
    calls = []

    def plain(sender, *, table, partitions, **kw):
        calls.append(table)

    table_imported.connect(plain, weak=False, dispatch_uid="t.plain2")
    try:
        with pytest.raises(RuntimeError), deferred():
            table_imported.send(sender=None, table="orders", partitions={("371002", "2026-09")}, user=None)
            raise RuntimeError("the next file was rejected")
        assert calls == ["orders"]
    finally:
        table_imported.disconnect(dispatch_uid="t.plain2")


def test_matching_receiver_takes_the_union_of_the_matching_tables(django_capture_on_commit_callbacks):
    from settlement.receivers import enqueue_matching

    with mock.patch("settlement.tasks.matching.match_partition") as task:
        with django_capture_on_commit_callbacks(execute=True):
            enqueue_matching(
                None,
                table="orders",
                partitions=set(),
                tables={
                    "orders": {("370200", "2026-08")},
                    "deliveries": {("371002", "2026-09")},
                    "receipts": {("371002", "2026-09")},
                    "invoices": {("371002", "2026-09"), ("371002", "2026-10")},
                },
            )
        assert sorted(c.args for c in task.delay.call_args_list) == [("371002", "2026-09"), ("371002", "2026-10")]


def test_price_receiver_builds_each_partition_once_with_all_groups(django_capture_on_commit_callbacks):
    from price_monitor.receivers import on_table_imported

    with mock.patch("price_monitor.tasks.observations_build_task") as task:
        with django_capture_on_commit_callbacks(execute=True):
            on_table_imported(
                None,
                table="orders",
                partitions=set(),
                tables={
                    "orders": {("371002", "2026-09")},
                    "invoices": {("371002", "2026-09")},
                    "hospitals": {("x", "y")},
                },
            )
        assert [c.args for c in task.delay.call_args_list] == [("371002", "2026-09", ["orders", "invoices"])]


@pytest.mark.django_db(transaction=True)
def test_import_dir_runs_matching_once_per_partition(tmp_path):
    world = build_world()
    write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world, order_no="PO9000", qty=10)])
    write_csv(
        tmp_path / "deliveries.csv",
        DELIVERY_HEADER,
        [["DL9000", 1, "PO9000", 1, 10, "B1", "2028-01-01", "2026-09-11T10:00:00+08:00"]],
    )
    write_csv(tmp_path / "receipts.csv", RECEIPT_HEADER, [["DL9000", 1, 10, 0, "2026-09-12T10:00:00+08:00", ""]])
    write_csv(
        tmp_path / "invoices.csv",
        INVOICE_HEADER,
        [invoice_row(world, invoice_no="26370000000000009000", delivery_no="DL9000", issued_at="2026-09-15")],
    )
    # real commits (transaction=True): each file's announcement comes at its COMMIT, inside import_dir
    with mock.patch("settlement.tasks.matching.match_partition") as task:
        call_command("import_dir", str(tmp_path), stdout=open("/dev/null", "w"))
    # deliveries, receipts and invoices all touched (371002, 2026-09): matched once, not three times
    assert [c.args for c in task.delay.call_args_list] == [("371002", "2026-09")]
