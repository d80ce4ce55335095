"""Receipt confirmation (验收入库) by hospitals: service, API and page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from procurement.models import DeliveryLine
from procurement.services import receipts as svc
from procurement.services.receipts import ReceiptError, delivery_accept_all, receipt_confirm
from settlement.models import InvoiceLine, MatchStatus, Statement
from tests.factories import (
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    enterprise_user,
    hospital_user,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def delivery():
    return DeliveryLineFactory(qty=10)


@pytest.fixture
def nurse(delivery):
    return hospital_user(delivery.order_line.hospital)


def confirm(line, user, accepted=10, rejected=0, reason="", at=None):
    return receipt_confirm(
        delivery_line_id=line.pk,
        accepted_qty=accepted,
        rejected_qty=rejected,
        reject_reason=reason,
        received_at=at,
        user=user,
    )


# --- service ---------------------------------------------------------------------------


def test_a_receipt_records_quantities_who_and_the_shanghai_acceptance_date(delivery, nurse):
    # given a delivery of 10 made on 2026-09-02 (Shanghai)
    # when the hospital accepts 8 and rejects 2 at 16:05 UTC on 2026-09-15
    outcome = confirm(delivery, nurse, 8, 2, " 包装破损 / damaged ", dt.datetime(2026, 9, 15, 16, 5, tzinfo=UTC))
    delivery.refresh_from_db()
    # then the receipt is stored on the line, accepted on the 16th in Shanghai
    assert outcome.created is True
    assert (delivery.accepted_qty, delivery.rejected_qty) == (8, 2)
    assert delivery.reject_reason == "包装破损 / damaged"
    assert delivery.accepted_date == dt.date(2026, 9, 16)
    assert delivery.received_by == nurse


def test_a_receipt_without_a_time_is_received_now(delivery, nurse):
    confirm(delivery, nurse)
    delivery.refresh_from_db()
    assert delivery.received_at is not None and delivery.accepted_qty == 10


@pytest.mark.parametrize(
    ("accepted", "rejected", "reason", "code"),
    [
        (8, 2, "", svc.CODE_REASON_REQUIRED),
        (8, 2, "   ", svc.CODE_REASON_REQUIRED),
        (8, 1, "短少 / short", svc.CODE_QTY_MISMATCH),
        (11, -1, "x", svc.CODE_NEGATIVE),
    ],
)
def test_a_receipt_that_does_not_add_up_is_refused(delivery, nurse, accepted, rejected, reason, code):
    with pytest.raises(ReceiptError) as refused:
        confirm(delivery, nurse, accepted, rejected, reason, dt.datetime(2026, 9, 15, tzinfo=UTC))
    assert refused.value.code == code and refused.value.status == 400
    delivery.refresh_from_db()
    assert delivery.received_at is None


def test_a_receipt_before_the_delivery_is_refused(delivery, nurse):
    with pytest.raises(ReceiptError) as refused:
        confirm(delivery, nurse, at=delivery.delivered_at - dt.timedelta(minutes=1))
    assert refused.value.code == svc.CODE_BEFORE_DELIVERY


def test_confirming_the_same_receipt_twice_returns_it_and_different_content_is_refused(delivery, nurse):
    at = dt.datetime(2026, 9, 15, 3, tzinfo=UTC)
    confirm(delivery, nurse, 9, 1, "破损 / damaged", at)
    again = confirm(delivery, nurse, 9, 1, "破损 / damaged", at)
    assert again.created is False and again.line.accepted_qty == 9
    with pytest.raises(ReceiptError) as refused:
        confirm(delivery, nurse, 10, 0, "", at)
    assert refused.value.code == svc.CODE_CONFLICT and refused.value.status == 409
    delivery.refresh_from_db()
    assert delivery.accepted_qty == 9


def test_another_hospitals_delivery_is_not_found(delivery):
    stranger = hospital_user(HospitalFactory())
    with pytest.raises(ReceiptError) as refused:
        confirm(delivery, stranger)
    assert refused.value.code == svc.CODE_NOT_FOUND and refused.value.status == 404


def test_an_enterprise_user_cannot_confirm_receipts(delivery):
    seller = enterprise_user(delivery.order_line.distributor)
    with pytest.raises(ReceiptError) as refused:
        confirm(delivery, seller)
    assert refused.value.code == svc.CODE_NOT_ALLOWED and refused.value.status == 403


def test_accepting_a_whole_delivery_keeps_earlier_receipts(delivery, nurse):
    # given a delivery with three lines, one already received with a rejection
    second = DeliveryLineFactory(delivery_no=delivery.delivery_no, line_no=2, order_line=delivery.order_line, qty=5)
    third = DeliveryLineFactory(delivery_no=delivery.delivery_no, line_no=3, order_line=delivery.order_line, qty=4)
    confirm(second, nurse, 4, 1, "过期 / expired")
    # when the hospital accepts the whole delivery
    outcomes = delivery_accept_all(delivery_no=delivery.delivery_no, user=nurse)
    # then the other lines are accepted in full, the earlier receipt is untouched
    assert [o.created for o in outcomes] == [True, False, True]
    for line, accepted in ((delivery, 10), (second, 4), (third, 4)):
        line.refresh_from_db()
        assert line.accepted_qty == accepted
    assert [o.created for o in delivery_accept_all(delivery_no=delivery.delivery_no, user=nurse)] == [False] * 3


def test_accepting_another_hospitals_delivery_is_not_found(delivery):
    with pytest.raises(ReceiptError) as refused:
        delivery_accept_all(delivery_no=delivery.delivery_no, user=hospital_user(HospitalFactory()))
    assert refused.value.status == 404


def test_a_receipt_enqueues_matching_of_its_partition_after_commit(delivery, nurse, django_capture_on_commit_callbacks):
    # given an invoice that arrived before the receipt (NO_RECEIPT)
    line = InvoiceLineFactory(delivery_line=delivery)
    from settlement.services.matching import invoices_match

    invoices_match()
    line.refresh_from_db()
    assert line.match_status == MatchStatus.EXCEPTION
    # when the hospital confirms receipt and the transaction commits
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        confirm(delivery, nurse, at=delivery.delivered_at + dt.timedelta(hours=3))
    # then matching ran for the partition: the line is matched and on a statement
    assert callbacks
    line.refresh_from_db()
    assert line.match_status == MatchStatus.MATCHED
    assert line.statement is not None and Statement.objects.count() == 1


def _results():
    """Every invoice line's match result and statement, by id."""
    return {
        row["id"]: row
        for row in InvoiceLine.objects.values(
            "id", "match_status", "exception_codes", "net_qty", "net_amount", "statement__no", "matched_at"
        )
    }


def test_a_receipt_rematches_only_its_delivery_lines_invoice_lines(
    delivery, nurse, django_capture_on_commit_callbacks
):
    from settlement.services.matching import invoices_match

    # given, in the same hospital and month, the invoice line of the delivery awaiting receipt
    # (NO_RECEIPT), and one on another delivery line whose stored result is stale (as if its
    # award changed since the last pass)
    line = InvoiceLineFactory(delivery_line=delivery)
    other_delivery = DeliveryLineFactory(
        received=True, order_line=OrderLineFactory(hospital=delivery.order_line.hospital, order_no="PO-OTHER")
    )
    other = InvoiceLineFactory(delivery_line=other_delivery)
    invoices_match()
    InvoiceLine.objects.filter(pk=other.pk).update(match_status=MatchStatus.PENDING, exception_codes="")
    before = _results()
    # when the hospital confirms receipt and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        confirm(delivery, nurse, at=delivery.delivered_at + dt.timedelta(hours=3))
    after = _results()
    # then its line is matched and on a statement, and the other line was not read: still stale
    assert before[line.pk]["match_status"] == MatchStatus.EXCEPTION
    assert after[line.pk]["match_status"] == MatchStatus.MATCHED and after[line.pk]["statement__no"]
    assert after[other.pk] == before[other.pk]
    # and the partition's pass would have given the receipt's line exactly the same result
    invoices_match(region_prefix=delivery.order_line.hospital.region_id, build_statements=True)
    again = _results()
    assert again[line.pk] == after[line.pk]
    assert again[other.pk]["match_status"] == MatchStatus.MATCHED


def test_receipts_matched_by_line_equal_the_partitions_pass(django_capture_on_commit_callbacks, monkeypatch):
    from django.db import transaction

    from settlement.services.matching import invoices_match
    from settlement.tasks import matching as tasks

    runs = []
    monkeypatch.setattr(tasks, "invoices_match", lambda **kw: runs.append(kw) or invoices_match(**kw))

    # given a hospital with three deliveries awaiting receipt, one invoiced twice over its
    # quantity (QTY_EXCEEDS_ACCEPTED once part is rejected), one not invoiced yet
    hospital = HospitalFactory()
    nurse = hospital_user(hospital)
    deliveries = [DeliveryLineFactory(order_line=OrderLineFactory(hospital=hospital)) for _ in range(3)]
    InvoiceLineFactory(delivery_line=deliveries[0])
    InvoiceLineFactory(delivery_line=deliveries[1], qty=6, amount="60.00")
    InvoiceLineFactory(delivery_line=deliveries[1], qty=4, amount="40.00", invoice_no="99990000000000000001")
    invoices_match(build_statements=True)

    def receive():
        confirm(deliveries[0], nurse, at=deliveries[0].delivered_at + dt.timedelta(hours=1))
        confirm(deliveries[1], nurse, 7, 3, "破损 / damaged", at=deliveries[1].delivered_at + dt.timedelta(hours=1))
        confirm(deliveries[2], nurse, at=deliveries[2].delivered_at + dt.timedelta(hours=1))

    class Undo(Exception):
        pass

    # when the receipts are matched line by line (their announcement) …
    try:
        with transaction.atomic():
            with django_capture_on_commit_callbacks(execute=True):
                receive()
            assert [sorted(run) for run in runs] == [["build_statements", "delivery_line_ids", "region_prefix"]] * 3
            by_line = _results()
            raise Undo
    except Undo:
        pass
    # … and, on the same data, by the hospital's whole partition instead
    with django_capture_on_commit_callbacks(execute=False):
        receive()
    invoices_match(region_prefix=hospital.region_id, build_statements=True)
    by_partition = _results()
    # then every line has the same result and statement (matched_at aside: when it ran)
    strip = lambda rows: {k: {f: v for f, v in r.items() if f != "matched_at"} for k, r in rows.items()}  # noqa: E731
    assert strip(by_line) == strip(by_partition)
    statuses = sorted(r["match_status"] for r in by_line.values())
    assert statuses == [MatchStatus.EXCEPTION, MatchStatus.MATCHED, MatchStatus.MATCHED]
    assert "QTY_EXCEEDS_ACCEPTED" in "".join(r["exception_codes"] for r in by_line.values())


def test_the_receipt_announcement_names_its_delivery_lines_and_regions(
    delivery, monkeypatch, django_capture_on_commit_callbacks
):
    from settlement import receivers
    from settlement.tasks import matching as tasks

    sent = []
    monkeypatch.setattr(tasks.match_delivery_lines, "delay", lambda ids, regions: sent.append(("lines", ids, regions)))
    monkeypatch.setattr(tasks.match_partition, "delay", lambda r, p: sent.append(("partition", r, p)))
    region = delivery.order_line.hospital.region_id
    with django_capture_on_commit_callbacks(execute=True):
        # a receipt: its lines only
        receivers.enqueue_matching(
            table="receipts", partitions={(region, "2026-09")}, delivery_lines={delivery.pk: region}
        )
        # a file of receipts (no lines named), or more lines than LINES_BY_THEMSELVES: the partitions
        receivers.enqueue_matching(table="receipts", partitions={(region, "2026-09")})
        many = dict.fromkeys(range(receivers.LINES_BY_THEMSELVES + 1), region)
        receivers.enqueue_matching(table="receipts", partitions={(region, "2026-10")}, delivery_lines=many)
    assert sent == [
        ("lines", [delivery.pk], [region]),
        ("partition", region, "2026-09"),
        ("partition", region, "2026-10"),
    ]


# --- API -------------------------------------------------------------------------------


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


URL = "/api/v1/receipts/"


def test_api_confirms_a_line_then_replays_it(delivery, nurse):
    body = {
        "delivery_no": delivery.delivery_no,
        "line_no": 1,
        "accepted_qty": 7,
        "rejected_qty": 3,
        "reject_reason": "破损",
    }
    first = api(nurse).post(URL, body, format="json")
    assert first.status_code == 201, first.data
    assert first.data["accepted_qty"] == 7 and first.data["created"] is True
    again = api(nurse).post(URL, body, format="json")
    assert again.status_code == 200 and again.data["created"] is False
    changed = api(nurse).post(URL, {**body, "accepted_qty": 10, "rejected_qty": 0}, format="json")
    assert changed.status_code == 409 and changed.data["code"] == svc.CODE_CONFLICT


def test_api_refuses_a_rejection_without_reason_in_the_error_shape(delivery, nurse):
    body = {"delivery_no": delivery.delivery_no, "line_no": 1, "accepted_qty": 7, "rejected_qty": 3}
    response = api(nurse).post(URL, body, format="json")
    assert response.status_code == 400
    assert response.data["code"] == svc.CODE_REASON_REQUIRED
    assert "reject_reason" in response.data["fields"]


def test_api_needs_a_line_or_accept_all(delivery, nurse):
    response = api(nurse).post(URL, {"delivery_no": delivery.delivery_no}, format="json")
    assert response.status_code == 400 and set(response.data["fields"]) == {"line_no", "accepted_qty", "rejected_qty"}


def test_api_another_hospitals_delivery_answers_404(delivery):
    stranger = hospital_user(HospitalFactory())
    body = {"delivery_no": delivery.delivery_no, "line_no": 1, "accepted_qty": 10, "rejected_qty": 0}
    response = api(stranger).post(URL, body, format="json")
    assert response.status_code == 404 and response.data["code"] == svc.CODE_NOT_FOUND
    missing = api(stranger).post(URL, {**body, "delivery_no": "NOPE"}, format="json")
    assert missing.status_code == 404 and missing.data["code"] == svc.CODE_NOT_FOUND
    assert DeliveryLine.objects.get(pk=delivery.pk).received_at is None


def test_api_is_for_hospital_users(delivery):
    seller = enterprise_user(delivery.order_line.distributor)
    body = {"delivery_no": delivery.delivery_no, "line_no": 1, "accepted_qty": 10, "rejected_qty": 0}
    assert api(seller).post(URL, body, format="json").status_code == 403


def test_api_accepts_a_whole_delivery_with_an_idempotency_key(delivery, nurse):
    DeliveryLineFactory(delivery_no=delivery.delivery_no, line_no=2, order_line=delivery.order_line, qty=5)
    client = api(nurse)
    body = {"delivery_no": delivery.delivery_no, "accept_all": True}
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and [r["accepted_qty"] for r in first.data["receipts"]] == [10, 5]
    replay = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    other = client.post(URL, {"delivery_no": "X", "accept_all": True}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409


# --- page ------------------------------------------------------------------------------


def test_the_page_lists_deliveries_awaiting_receipt_oldest_first(client, delivery, nurse):
    hospital = delivery.order_line.hospital
    older = DeliveryLineFactory(
        order_line=OrderLineFactory(hospital=hospital), delivered_at=delivery.delivered_at - dt.timedelta(days=3)
    )
    DeliveryLineFactory(order_line=OrderLineFactory(hospital=hospital), received=True)  # done: not listed
    DeliveryLineFactory()  # another hospital's: not listed
    client.force_login(nurse)
    response = client.get(reverse("procurement-receipts"))
    assert response.status_code == 200
    listed = [line.pk for line in response.context["page"].object_list]
    assert listed == [older.pk, delivery.pk]
    assert delivery.batch_no in response.content.decode()


def test_the_page_confirms_a_line_and_a_whole_delivery(client, delivery, nurse):
    client.force_login(nurse)
    url = reverse("procurement-receipts")
    refused = client.post(url, {"delivery_line_id": delivery.pk, "accepted_qty": 8, "rejected_qty": 2}, follow=True)
    assert str(svc.MSG_REASON_REQUIRED) in refused.content.decode()
    done = client.post(
        url,
        {"delivery_line_id": delivery.pk, "accepted_qty": 8, "rejected_qty": 2, "reject_reason": "破损"},
        follow=True,
    )
    assert done.status_code == 200
    delivery.refresh_from_db()
    assert delivery.accepted_qty == 8
    other = DeliveryLineFactory(order_line=OrderLineFactory(hospital=delivery.order_line.hospital))
    client.post(url, {"action": "accept_all", "delivery_no": other.delivery_no})
    other.refresh_from_db()
    assert other.accepted_qty == other.qty


def test_the_page_is_for_hospital_users(client, delivery):
    client.force_login(enterprise_user(EnterpriseFactory()))
    assert client.get(reverse("procurement-receipts")).status_code == 403


def test_the_page_cannot_confirm_another_hospitals_line(client, delivery):
    client.force_login(hospital_user(HospitalFactory()))
    response = client.post(
        reverse("procurement-receipts"),
        {"delivery_line_id": delivery.pk, "accepted_qty": 10, "rejected_qty": 0},
        follow=True,
    )
    assert str(svc.MSG_NOT_FOUND) in response.content.decode()
    assert InvoiceLine.objects.count() == 0
    delivery.refresh_from_db()
    assert delivery.received_at is None


# --- concurrency (PostgreSQL: two real connections) ---------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_confirmations_racing_for_one_line_write_one_receipt():
    import threading

    from django.db import connection

    delivery = DeliveryLineFactory(qty=10)
    nurse = hospital_user(delivery.order_line.hospital)
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def worker(accepted, rejected, reason):
        try:
            barrier.wait()
            outcomes.append(confirm(delivery, nurse, accepted, rejected, reason))
        except ReceiptError as exc:
            errors.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=args) for args in ((10, 0, ""), (10, 0, ""), (9, 1, "破损"))]
    barrier = threading.Barrier(len(threads))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delivery.refresh_from_db()
    created = [o for o in outcomes if o.created]
    # exactly one receipt was written; the others either replayed it or were refused as different
    assert len(created) == 1
    winner = (delivery.accepted_qty, delivery.rejected_qty)
    assert winner in {(10, 0), (9, 1)}
    assert len(outcomes) + len(errors) == 3
    assert all(code == svc.CODE_CONFLICT for code in errors)
    assert all((o.line.accepted_qty, o.line.rejected_qty) == winner for o in outcomes)


def test_matching_takes_invoice_lines_or_delivery_lines_not_both(delivery):
    from settlement.services.matching import invoices_match

    with pytest.raises(ValueError, match="not both"):
        invoices_match(invoice_line_ids=[1], delivery_line_ids=[delivery.pk])
