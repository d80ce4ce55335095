"""Key checks deferred to COMMIT are planned for the tables as they are then (PostgreSQL).

PostgreSQL plans a foreign-key check once per session and keeps the plan. A long-lived
process whose first alert sync met a nearly empty alert table kept a sequential-scan plan,
and every check of a later, large sync scanned the whole table (an L partition's COMMIT ran
for over 8 minutes). interchange.bulk.replan_deferred_checks makes the checks plan afresh."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction

from interchange.services.imports import APPLIED, REJECTED, table_import
from settlement.services.alert_engine import AlertFinding, alerts_sync
from settlement.services.matching import invoices_match
from tests.factories import EnterpriseFactory, HospitalFactory
from tests.interchange.import_support import ORDER_HEADER, build_world, order_row, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

D = dt.date(2026, 10, 20)


def findings(start: int, n: int) -> list[AlertFinding]:
    return [
        AlertFinding(subject_type="order_line", subject_key=f"PO{i}/1", severity="medium", region_code="371002")
        for i in range(start, start + n)
    ]


def seq_scans_of_alerts() -> int:
    """Sequential scans of the alert table in the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_xact_numscans('settlement_alert'::regclass)")
        return int(cursor.fetchone()[0])


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: set DATABASE_URL=postgres://… (.ci/run does)")


@pytest.mark.postgres
def test_the_checks_of_a_large_sync_do_not_scan_the_alert_table_after_a_small_first_one(postgres_only):
    # given statistics of the empty alert table (what ANALYZE, by hand or by autovacuum, leaves)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE settlement_alert")
    # and a first, small sync in this session: its event checks ran against a table of a few rows
    assert alerts_sync(
        kind="SUPPLY_DELAY", region_prefix="3710", period=None, findings=findings(0, 12), as_of=D
    ).created
    # when a large sync follows, and its deferred checks are fired before the end of the transaction
    with transaction.atomic():
        result = alerts_sync(
            kind="SUPPLY_DELAY", region_prefix="3710", period=None, findings=findings(0, 3000), as_of=D
        )
        assert result.created == 3000 - 12
        before = seq_scans_of_alerts()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the checks COMMIT would run
        scans = seq_scans_of_alerts() - before
    # then the checks found each new event's alert by its key, not by reading the table
    assert scans == 0


# --- the other writers that call it -------------------------------------------------------------


@pytest.fixture
def replans(monkeypatch):
    """Counts the calls made through each module that imported the helper."""
    from interchange import bulk
    from settlement.services import statements

    calls: list[str] = []
    monkeypatch.setattr(bulk, "replan_deferred_checks", lambda: calls.append("import"))
    monkeypatch.setattr(statements, "replan_deferred_checks", lambda: calls.append("statements"))
    return calls


def test_statements_created_by_matching_replan_the_checks(replans):
    from tests.settlement.test_matching_single_pass import accepted_line

    line = accepted_line(HospitalFactory(), EnterpriseFactory(), accepted="2026-09-10")
    invoices_match(region_prefix=line.hospital.region_id, build_statements=True)
    assert replans == ["statements"]
    # a pass that creates no statement has nothing new to check against
    invoices_match(region_prefix=line.hospital.region_id, build_statements=True)
    assert replans == ["statements"]


def test_an_import_that_writes_rows_replans_the_checks_and_a_rejected_one_does_not(tmp_path, replans):
    world = build_world()
    bad = write_csv(tmp_path / "bad.csv", ORDER_HEADER, [order_row(world, "PO1", 1, qty="x")])
    assert table_import(table="orders", path=bad).status == REJECTED
    assert replans == []
    good = write_csv(tmp_path / "good.csv", ORDER_HEADER, [order_row(world, "PO1", 1)])
    assert table_import(table="orders", path=good).status == APPLIED
    assert replans == ["import"]
