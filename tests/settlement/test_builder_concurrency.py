"""Two statement builders at once (PostgreSQL, real transactions on two connections).

A builder locks its hospitals' rows (``statements.builder_lock``), not every builder: the
passes of two regions on two workers build their statements side by side, and each waits
for the other only for the statement numbers, taken last (``statements_number``). Two
builders of one hospital still go one after the other, so the second extends the statement
the first created instead of creating the same hospital × distributor × month again.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from settlement.models import InvoiceLine, MatchStatus, Statement
from settlement.services import statements as svc
from settlement.services.matching import invoices_match
from settlement.services.statements import PENDING_NO_PREFIX, statements_build
from tests.factories import EnterpriseFactory, HospitalFactory, RegionFactory
from tests.settlement.test_statements import settleable_candidate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT = 20  # seconds: a bound for the threads, never reached when the code is right


class Paused:
    """Runs a builder in a thread of its own and stops it just before it numbers its new
    statements: its lines are written and its hospitals locked, its transaction open."""

    def __init__(self, monkeypatch, build):
        self.reached, self.release = threading.Event(), threading.Event()
        self.result, self.error = None, None
        original = svc.statements_number

        def numbering(result):
            if threading.current_thread() is self.thread:
                self.reached.set()
                assert self.release.wait(WAIT)
            return original(result)

        monkeypatch.setattr(svc, "statements_number", numbering)
        self.thread = threading.Thread(target=self._run, args=(build,))
        self.thread.start()
        assert self.reached.wait(WAIT), "the builder never reached its numbering"

    def _run(self, build):
        try:
            self.result = build()
        except Exception as exc:  # noqa: BLE001 — handed to the test thread
            self.error = exc
        finally:
            connection.close()

    def finish(self):
        self.release.set()
        self.thread.join(WAIT)
        if self.error is not None:
            raise self.error
        return self.result


def in_thread(build):
    out = {}

    def run():
        try:
            out["result"] = build()
        except Exception as exc:  # noqa: BLE001 — handed to the test thread
            out["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def matched_unassigned(hospital, distributor, accepted="2026-09-10") -> InvoiceLine:
    line = settleable_candidate(hospital, distributor, accepted=accepted)
    invoices_match(invoice_line_ids=[line.id])  # matched, on no statement yet
    line.refresh_from_db()
    assert line.match_status == MatchStatus.MATCHED and line.statement_id is None
    return line


def test_builders_of_two_regions_build_side_by_side_and_number_in_turn(monkeypatch):
    # given a matched line in each of two regions
    distributor = EnterpriseFactory()
    east = HospitalFactory(region=RegionFactory(code="370102"))
    west = HospitalFactory(region=RegionFactory(code="371102"))
    east_line, west_line = matched_unassigned(east, distributor), matched_unassigned(west, distributor)
    # when the first region's builder has written its lines and holds its transaction open
    first = Paused(monkeypatch, lambda: statements_build(region_prefix="3701"))
    # then the second region's builder does not wait for it (it would, for the lock timeout, if it did)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '5s'")
    try:
        second = statements_build(region_prefix="3711")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert second.lines_added == 1 and second.statements_created == ["STMT2026000001"]
    # and the first, let go, takes the next number: gapless, in the order they committed
    first_result = first.finish()
    assert first_result.lines_added == 1 and first_result.statements_created == ["STMT2026000002"]
    east_line.refresh_from_db()
    west_line.refresh_from_db()
    assert east_line.statement.no == "STMT2026000002" and west_line.statement.no == "STMT2026000001"
    assert not Statement.objects.filter(no__startswith=PENDING_NO_PREFIX).exists()


def test_a_builder_of_the_same_hospital_waits_and_extends_the_statement_the_first_created(monkeypatch):
    # given two lines of one hospital, distributor and month, neither matched yet
    hospital, distributor = HospitalFactory(), EnterpriseFactory()
    one = settleable_candidate(hospital, distributor, accepted="2026-09-10")
    two = settleable_candidate(hospital, distributor, accepted="2026-09-20")
    # when matching puts the first onto a new statement and holds its transaction open
    first = Paused(monkeypatch, lambda: invoices_match(invoice_line_ids=[one.id], build_statements=True))
    # and the second line is matched meanwhile (no lock of the first's on it), and a builder gathers it
    invoices_match(invoice_line_ids=[two.id])
    thread, out = in_thread(statements_build)
    deadline = time.monotonic() + WAIT
    while not waiting_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    # then the builder waits for the first (the hospital's lock) ...
    assert waiting_on_a_lock() == 1 and thread.is_alive()
    first_result = first.finish()
    thread.join(WAIT)
    assert "error" not in out, out.get("error")
    # ... and puts its line onto the statement the first created, not onto a second one of the same month
    [statement] = Statement.objects.all()
    assert first_result.statements_created == [statement.no] == ["STMT2026000001"]
    assert out["result"].statements_created == [] and out["result"].statements_extended == [statement.no]
    assert set(statement.lines.values_list("id", flat=True)) == {one.id, two.id}
