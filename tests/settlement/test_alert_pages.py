"""Pages of alerts: inbox and detail (scoped), bulk verdicts, the late-payment board and
its drill-down, the 通报 list with prepayment recovery, notifications; the task and the
``scan_alerts`` command."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from parties.models import Role
from settlement.models import Alert, Notification, Statement
from settlement.selectors.alerts import MSG_REASON_STATEMENTS, NOTICE_LATE_STATEMENTS, late_payment_board, notice_list
from settlement.services.alert_engine import AlertFinding, alerts_sync
from settlement.tasks.alerts import alerts_scan_daily
from tests.factories import (
    BureauFactory,
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    RegionFactory,
    at,
    bureau_user,
    enterprise_user,
    hospital_user,
)

pytestmark = pytest.mark.django_db

D = dt.date(2026, 10, 20)


def overdue(key, hospital, *, stage, responsible, amount, severity="medium", enterprise=""):
    return AlertFinding(
        subject_type="invoice_line",
        subject_key=key,
        severity=severity,
        region_code=hospital.region_id,
        hospital_code=hospital.code,
        enterprise_code=enterprise,
        stage=stage,
        responsible=responsible,
        amount=Decimal(amount),
        value=Decimal(3),
    )


@pytest.fixture
def board_world():
    h1 = HospitalFactory(region=RegionFactory(code="371002"))
    h2 = HospitalFactory(region=RegionFactory(code="371002"))
    far = HospitalFactory(region=RegionFactory(code="371102"))
    alerts_sync(
        kind="PAYMENT_OVERDUE",
        region_prefix="37",
        period=None,
        as_of=D,
        findings=[
            overdue(
                "A/1",
                h1,
                stage="awaiting_hospital_confirmation",
                responsible="hospital",
                amount="100.00",
                severity="high",
            ),
            overdue("A/2", h1, stage="awaiting_hospital_confirmation", responsible="hospital", amount="50.50"),
            overdue("B/1", h2, stage="awaiting_batch", responsible="bureau", amount="30.00", severity="critical"),
            overdue("F/1", far, stage="awaiting_bank", responsible="bank", amount="999.00"),
        ],
    )
    operator = bureau_user(BureauFactory(region=RegionFactory(code="371000")))
    return {"h1": h1, "h2": h2, "far": far, "operator": operator}


def test_board_sums_overdue_money_by_stage_and_party_in_the_users_region(board_world):
    board = late_payment_board(board_world["operator"])
    by_stage = {s.stage: (s.responsible, s.lines, s.amount, s.high, s.critical) for s in board.stages}
    assert by_stage == {
        "awaiting_hospital_confirmation": ("hospital", 2, Decimal("150.50"), 1, 0),
        "awaiting_batch": ("bureau", 1, Decimal("30.00"), 0, 1),
    }
    assert (board.total_lines, board.total_amount) == (3, Decimal("180.50"))
    assert board.by_responsible["hospital"]["amount"] == Decimal("150.50")


def test_board_page_and_drill_down(client, board_world):
    client.force_login(board_world["operator"])
    page = client.get(reverse("late-payment-board"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "150.50" in html and "999.00" not in html and "逾期付款看板" in html
    lines = client.get(reverse("late-payment-lines") + "?stage=awaiting_hospital_confirmation")
    body = lines.content.decode()
    assert lines.status_code == 200 and "A/1" in body and "A/2" in body and "B/1" not in body
    assert client.get(reverse("late-payment-lines") + "?stage=nope").status_code == 302


def test_board_is_for_bureau_staff_only(client, board_world):
    client.force_login(hospital_user(board_world["h1"]))
    assert client.get(reverse("late-payment-board")).status_code == 403


def test_alert_pages_are_scoped(client, board_world):
    client.force_login(hospital_user(board_world["h1"]))
    listing = client.get(reverse("alert-list")).content.decode()
    assert "A/1" in listing and "B/1" not in listing
    other = Alert.objects.get(subject_key="B/1")
    assert client.get(reverse("alert-detail", args=[other.alert_no])).status_code == 404
    mine = Alert.objects.get(subject_key="A/1")
    detail = client.get(reverse("alert-detail", args=[mine.alert_no]))
    assert detail.status_code == 200 and "待医院确认" in detail.content.decode()
    r = client.post(reverse("alert-action", args=[mine.alert_no, "acknowledge"]))
    assert r.status_code == 302 and Alert.objects.get(pk=mine.pk).status == "acknowledged"
    assert client.post(reverse("alert-action", args=[mine.alert_no, "resolve"]), {"reason": "x"}).status_code == 403


def test_bulk_dismiss_by_an_analyst_moves_only_price_alerts_in_scope(client):
    h = HospitalFactory(region=RegionFactory(code="371002"))
    analyst = bureau_user(BureauFactory(region=RegionFactory(code="371000")), role=Role.PRICE_ANALYST)
    alerts_sync(
        kind="PRICE_SPIKE",
        region_prefix="3710",
        period="2026-09",
        as_of=D,
        findings=[
            AlertFinding(
                subject_type="product_region",
                subject_key=f"X{i}/371002",
                severity="medium",
                region_code="371002",
                period="2026-09",
            )
            for i in range(3)
        ],
    )
    alerts_sync(
        kind="RECEIPT_PENDING",
        region_prefix="3710",
        period=None,
        as_of=D,
        findings=[overdue("R/1", h, stage="", responsible="hospital", amount="1.00")],
    )
    nos = list(Alert.objects.values_list("alert_no", flat=True))
    client.force_login(analyst)
    r = client.post(reverse("alert-bulk"), {"action": "dismiss", "alert_no": nos, "reason": "季节性 / seasonal"})
    assert r.status_code == 302
    assert sorted(Alert.objects.values_list("kind", "status")) == [
        ("PRICE_SPIKE", "dismissed"),
        ("PRICE_SPIKE", "dismissed"),
        ("PRICE_SPIKE", "dismissed"),
        ("RECEIPT_PENDING", "open"),
    ]
    # without a reason nothing moves
    client.post(reverse("alert-bulk"), {"action": "confirm", "alert_no": nos, "reason": ""})
    assert not Alert.objects.filter(status="confirmed").exists()


def _late_statement(hospital, distributor, n, *, confirmed_late=True):
    return Statement.objects.create(
        no=f"ST{hospital.code}{n}",
        hospital=hospital,
        distributor=distributor,
        period=f"2026-0{n}",
        sequence=0,
        status="confirmed" if confirmed_late else "open",
        deadline=dt.date(2026, n + 1, 5),
        confirmed_at=at(f"2026-0{n + 1}-09") if confirmed_late else None,
    )


def test_notice_list_names_hospitals_with_overdue_collections_or_repeated_late_statements():
    region = RegionFactory(code="371002")
    h_collect, h_late, h_once = (
        HospitalFactory(region=region),
        HospitalFactory(region=region),
        HospitalFactory(region=region),
    )
    ent = EnterpriseFactory()
    alerts_sync(
        kind="COLLECTION_OVERDUE",
        region_prefix="3710",
        period=None,
        as_of=D,
        findings=[
            AlertFinding(
                subject_type="collection",
                subject_key="TS1",
                severity="high",
                region_code="371002",
                hospital_code=h_collect.code,
                responsible="hospital",
                amount=Decimal("500.00"),
            )
        ],
    )
    for n in range(1, NOTICE_LATE_STATEMENTS + 1):
        _late_statement(h_late, ent, n)
    _late_statement(h_once, ent, 1)
    operator = bureau_user(BureauFactory(region=RegionFactory(code="371000")))
    entries = {e.hospital_code: e for e in notice_list(operator, as_of=D)}
    assert set(entries) == {h_collect.code, h_late.code}
    assert entries[h_collect.code].overdue_collection_amount == Decimal("500.00")
    assert entries[h_late.code].late_statements == NOTICE_LATE_STATEMENTS
    assert entries[h_late.code].reasons == [MSG_REASON_STATEMENTS]
    # a hospital user sees no notice list
    assert notice_list(hospital_user(h_late), as_of=D) == []


def test_notice_page_recovers_a_listed_hospitals_prepayment(client, monkeypatch):
    region = RegionFactory(code="371002")
    hospital = HospitalFactory(region=region)
    alerts_sync(
        kind="COLLECTION_OVERDUE",
        region_prefix="3710",
        period=None,
        as_of=D,
        findings=[
            AlertFinding(
                subject_type="collection",
                subject_key="TS9",
                severity="high",
                region_code="371002",
                hospital_code=hospital.code,
                responsible="hospital",
            )
        ],
    )
    calls = []

    def fake_recover(*, hospital_code, user, reason):
        calls.append((hospital_code, user.username, reason))
        return Decimal("300.00")

    monkeypatch.setattr("settlement.web.alert_views._recover_function", lambda: fake_recover)
    operator = bureau_user(BureauFactory(region=RegionFactory(code="371000")))
    client.force_login(operator)
    page = client.get(reverse("notice-list")).content.decode()
    assert hospital.code in page and "收回预付金" in page
    r = client.post(reverse("notice-recover", args=[hospital.code]), {"reason": "通报 / named"}, follow=True)
    assert calls == [(hospital.code, operator.username, "通报 / named")]
    assert "300.00" in r.content.decode()
    # a hospital that is not listed is refused without calling the service
    other = HospitalFactory(region=region)
    client.post(reverse("notice-recover", args=[other.code]), {"reason": "x"})
    assert len(calls) == 1


def test_notifications_page_and_mark_read(client):
    ent = EnterpriseFactory()
    user = enterprise_user(ent)
    alerts_sync(
        kind="SUPPLY_DELAY",
        region_prefix="3710",
        period=None,
        as_of=D,
        findings=[
            AlertFinding(
                subject_type="order_line",
                subject_key="PO1/1",
                severity="medium",
                region_code="371002",
                enterprise_code=ent.credit_code,
                responsible="enterprise",
                message="少送 / short",
            )
        ],
    )
    client.force_login(user)
    page = client.get(reverse("notifications"))
    assert page.status_code == 200 and "少送 / short" in page.content.decode()
    client.post(reverse("notifications"))
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()


def test_daily_task_runs_inline_and_twice_is_the_same(django_capture_on_commit_callbacks):
    dl = DeliveryLineFactory(order_line__ordered_at=at("2026-09-01"))
    hospital_user(dl.order_line.hospital, email="h@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        first = alerts_scan_daily("2026-10-01")
    with django_capture_on_commit_callbacks(execute=True):
        second = alerts_scan_daily("2026-10-01")
    assert (first["mode"], first["created"], second["created"], second["updated"]) == ("inline", 1, 0, 0)
    assert len(mail.outbox) == 1
    assert alerts_scan_daily.acks_late is True


def test_scan_alerts_command(db):
    DeliveryLineFactory(order_line__ordered_at=at("2026-09-01"))
    out = StringIO()
    call_command("scan_alerts", "--as-of", "2026-10-01", stdout=out)
    assert "RECEIPT_PENDING        created=1" in out.getvalue()
    assert Alert.objects.filter(kind="RECEIPT_PENDING").count() == 1
    out = StringIO()
    call_command("scan_alerts", "--as-of", "2026-10-01", "--region", "371002", stdout=out)
    assert "RECEIPT_PENDING        created=0" in out.getvalue()
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("scan_alerts", "--as-of", "2026-13-01")
    with pytest.raises(CommandError, match="unknown region"):
        call_command("scan_alerts", "--region", "999999")
    with pytest.raises(CommandError, match="unknown alert kind"):
        call_command("scan_alerts", "--kind", "PRICE_SPIKE")
