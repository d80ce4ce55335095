"""Alert numbers come from a sequence (PostgreSQL): concurrent alert syncs never wait for
each other's commit; document numbers (batches …) stay on the locked, gapless counter."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from settlement.models import Alert, DocumentCounter
from settlement.services.alert_engine import ALERT_NUMBER_KIND, AlertFinding, alerts_sync
from settlement.services.numbering import number_block_unlocked, number_next, sequence_name

D = dt.date(2026, 10, 20)


def _drop_sequence(kind: str, year: int) -> None:
    with connection.cursor() as cur:
        cur.execute(f"DROP SEQUENCE IF EXISTS {sequence_name(kind, year)}")


def _lock_timeout(ms: int) -> None:
    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL lock_timeout = {int(ms)}")


@pytest.mark.django_db
def test_a_block_is_consecutive_and_the_next_block_follows():
    a = number_block_unlocked(kind="TESTNO", year=2901, count=3, prefix="T", width=8)
    b = number_block_unlocked(kind="TESTNO", year=2901, count=2, prefix="T", width=8)
    first = int(a[0][5:])
    assert a == [f"T2901{n:08d}" for n in range(first, first + 3)]
    assert b[0] > a[-1] and len(set(a + b)) == 5
    assert number_block_unlocked(kind="TESTNO", year=2901, count=0) == []


def test_bad_kind_is_refused():
    with pytest.raises(ValueError):
        sequence_name("alert; drop table x", 2026)


def _in_threads(*calls, timeout=30):
    """Run the calls in threads, each on its own connection; (results, errors)."""
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sequence_starts_after_the_counter_and_a_rollback_leaves_a_gap():
    _drop_sequence("TESTNO", 2902)
    DocumentCounter.objects.create(kind="TESTNO", year=2902, last=41)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert number_block_unlocked(kind="TESTNO", year=2902, count=2, width=4) == ["TESTNO29020042", "TESTNO29020043"]
        raise RuntimeError("rolled back")
    # not given back (alerts may have gaps), never reused
    assert number_block_unlocked(kind="TESTNO", year=2902, count=1, width=4) == ["TESTNO29020044"]
    _drop_sequence("TESTNO", 2902)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_open_alert_syncs_take_numbers_without_waiting_for_each_other():
    _drop_sequence(ALERT_NUMBER_KIND, D.year)  # also the first use of the year: the sequence is created then
    first_done, second_done = threading.Event(), threading.Event()

    def sync(prefix, region, keys):
        found = [
            AlertFinding(subject_type="order_line", subject_key=k, severity="medium", region_code=region) for k in keys
        ]
        return alerts_sync(kind="SUPPLY_DELAY", region_prefix=prefix, period=None, findings=found, as_of=D)

    def a():
        with transaction.atomic():
            _lock_timeout(2000)
            sync("3710", "371002", [f"A/{i}" for i in range(5)])
            first_done.set()
            # keep the transaction open until the other one has taken its numbers and committed
            assert second_done.wait(20)
        return list(Alert.objects.filter(region_code="371002").values_list("alert_no", flat=True))

    def b():
        assert first_done.wait(20)
        try:
            with transaction.atomic():
                _lock_timeout(2000)  # a wait for a's commit would fail here
                sync("3720", "372002", [f"B/{i}" for i in range(3)])
        finally:
            second_done.set()
        return list(Alert.objects.filter(region_code="372002").values_list("alert_no", flat=True))

    (nos_a, nos_b), errors = _in_threads(a, b)
    assert errors == [None, None]
    assert len(nos_a) == 5 and len(nos_b) == 3
    assert len(set(nos_a) | set(nos_b)) == 8
    assert min(nos_b) > max(nos_a)  # b took its block after a's, while a was still open
    assert Alert.objects.count() == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_document_numbers_still_wait_for_the_holders_commit():
    """Documents stay gapless: the counter row is held until commit, so a second taker waits."""
    number_next(kind="TESTDOC", year=2903)  # the counter row exists
    held, released = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            no = number_next(kind="TESTDOC", year=2903)
            held.set()
            assert released.wait(20)
        return no

    def waiter():
        assert held.wait(20)
        try:
            with transaction.atomic():
                _lock_timeout(300)
                return number_next(kind="TESTDOC", year=2903)
        finally:
            released.set()

    (no, _), errors = _in_threads(holder, waiter)
    assert no == "TESTDOC2903000002"
    assert errors[0] is None and isinstance(errors[1], OperationalError)
    assert DocumentCounter.objects.get(kind="TESTDOC", year=2903).last == 2
