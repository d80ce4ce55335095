"""The shared alert engine: create / update / escalate / resolve / reopen, partitions,
verdicts, history, notifications and the e-mail digest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail

from parties.models import Role
from settlement.models import Alert, AlertEvent, AlertStatus, Notification
from settlement.selectors.notifications import unread_count
from settlement.services import alert_engine as engine
from settlement.services.alert_engine import AlertFinding, AlertTransitionError, alerts_sync
from settlement.services.notifications import notifications_mark_read, notifications_send_digests
from tests.factories import (
    BureauFactory,
    EnterpriseFactory,
    HospitalFactory,
    RegionFactory,
    bureau_user,
    enterprise_user,
)

pytestmark = pytest.mark.django_db

D = dt.date(2026, 10, 20)


def finding(key="PO1/1", severity="medium", region="371002", **kw) -> AlertFinding:
    return AlertFinding(subject_type="order_line", subject_key=key, severity=severity, region_code=region, **kw)


def sync(findings, kind="SUPPLY_DELAY", prefix="3710", period=None, as_of=D, **kw):
    return alerts_sync(kind=kind, region_prefix=prefix, period=period, findings=findings, as_of=as_of, **kw)


def price(key, region="371002", period="2026-09", severity="high"):
    return AlertFinding(
        subject_type="hospital_product", subject_key=key, severity=severity, region_code=region, period=period
    )


def test_a_finding_creates_one_numbered_alert_with_history():
    # given nothing stored / when a scan finds one subject
    result = sync([finding(value=Decimal("3"), threshold=Decimal("10"), message="少送 / short")])
    # then one open alert, numbered, with a "created" event
    assert result.created == 1 and result.as_dict()["updated"] == 0
    alert = Alert.objects.get()
    assert alert.alert_no.startswith("AL2026") and len(alert.alert_no) == 14
    assert (alert.status, alert.severity, alert.value, alert.first_seen_on) == ("open", "medium", Decimal("3"), D)
    assert list(alert.events.values_list("action", "reason")) == [("created", engine.REASON_FOUND)]


def test_the_same_findings_twice_change_nothing():
    sync([finding("A/1"), finding("B/1")])
    # when the same scan runs again for the same date
    again = sync([finding("A/1"), finding("B/1")])
    # then nothing new, no new events
    assert again.as_dict() == {"created": 0, "updated": 0, "escalated": 0, "resolved": 0, "reopened": 0}
    assert Alert.objects.count() == 2 and AlertEvent.objects.count() == 2


def test_update_escalation_is_an_event_and_value_change_is_not():
    sync([finding(value=Decimal("1"))], kind="PAYMENT_OVERDUE")
    # when the next day's scan finds it with a higher severity and value
    result = sync(
        [finding(severity="high", value=Decimal("16"))], kind="PAYMENT_OVERDUE", as_of=D + dt.timedelta(days=1)
    )
    # then it is escalated, the value follows, and the history says so once
    assert (result.updated, result.escalated) == (1, 1)
    alert = Alert.objects.get()
    assert (alert.severity, alert.value, alert.last_seen_on) == ("high", Decimal("16.0000"), D + dt.timedelta(days=1))
    assert list(alert.events.values_list("action", "from_severity", "to_severity")) == [
        ("created", "", "medium"),
        ("escalated", "medium", "high"),
    ]
    # and a change of value only adds no event
    sync([finding(severity="high", value=Decimal("17"))], kind="PAYMENT_OVERDUE", as_of=D + dt.timedelta(days=2))
    assert alert.events.count() == 2


def test_stage_change_is_recorded():
    sync([finding(stage="awaiting_batch", responsible="bureau")], kind="PAYMENT_OVERDUE")
    sync([finding(stage="awaiting_approval", responsible="bureau")], kind="PAYMENT_OVERDUE")
    event = AlertEvent.objects.get(action="stage_changed")
    assert event.changes == {"stage": ["awaiting_batch", "awaiting_approval"]}


def test_an_alert_not_found_again_is_resolved_then_reopened_when_it_comes_back():
    sync([finding("A/1"), finding("B/1")], kind="RECEIPT_PENDING")
    # when B is no longer found
    result = sync([finding("A/1")], kind="RECEIPT_PENDING")
    # then B is resolved with a reason
    assert result.resolved == 1
    b = Alert.objects.get(subject_key="B/1")
    assert b.status == "resolved" and b.resolved_at is not None
    assert b.events.last().reason == engine.REASON_CLEARED
    # when it comes back, it is reopened (same alert, same number)
    again = sync([finding("A/1"), finding("B/1")], kind="RECEIPT_PENDING")
    assert (again.reopened, again.created) == (1, 0)
    b2 = Alert.objects.get(subject_key="B/1")
    assert b2.alert_no == b.alert_no and b2.status == "open" and b2.resolved_at is None
    assert list(b2.events.values_list("action", flat=True)) == ["created", "resolved", "reopened"]


def test_auto_resolve_false_keeps_the_fact():
    sync([finding("A/1")], kind="SUPPLY_DELAY", auto_resolve=False)
    result = sync([], kind="SUPPLY_DELAY", auto_resolve=False)
    assert result.resolved == 0 and Alert.objects.get().status == "open"


def test_resolution_stays_inside_the_partition():
    # given alerts in 3710 (威海) and 3711 (日照)
    sync([finding("A/1", region="371002")], prefix="3710", kind="RECEIPT_PENDING")
    sync([finding("B/1", region="371102")], prefix="3711", kind="RECEIPT_PENDING")
    # when 3710 is rescanned and finds nothing
    result = sync([], prefix="3710", kind="RECEIPT_PENDING")
    # then only 3710's alert is resolved
    assert result.resolved == 1
    assert Alert.objects.get(subject_key="B/1").status == "open"


def test_period_partition_and_verdicts_stand():
    sync([price("H1/X1"), price("H2/X2")], kind="PRICE_ABOVE_AWARD", period="2026-09")
    sync([price("H1/X1", period="2026-08")], kind="PRICE_ABOVE_AWARD", period="2026-08")
    analyst = bureau_user(BureauFactory(), role=Role.PRICE_ANALYST)
    first = Alert.objects.get(subject_key="H1/X1", period="2026-09")
    engine.alert_confirm(alert_no=first.alert_no, user=analyst, reason="核实 / verified")
    # when September is rescanned without findings
    result = sync([], kind="PRICE_ABOVE_AWARD", period="2026-09")
    # then the open September alert resolves, the confirmed one stays, August is untouched
    assert result.resolved == 1
    assert Alert.objects.get(pk=first.pk).status == "confirmed"
    assert Alert.objects.get(subject_key="H1/X1", period="2026-08").status == "open"
    # and a confirmed alert found again is not reopened nor counted
    again = sync([price("H1/X1")], kind="PRICE_ABOVE_AWARD", period="2026-09")
    assert again.as_dict() == {"created": 0, "updated": 0, "escalated": 0, "resolved": 0, "reopened": 0}


def test_findings_outside_the_partition_or_malformed_are_refused():
    with pytest.raises(ValueError, match=engine.MSG_OUTSIDE_PARTITION):
        sync([finding(region="371102")], prefix="3710")
    with pytest.raises(ValueError, match=engine.MSG_OUTSIDE_PARTITION):
        sync([price("H/X", period="2026-08")], kind="PRICE_SPIKE", period="2026-09")
    with pytest.raises(ValueError, match=engine.MSG_BAD_SEVERITY):
        sync([finding(severity="urgent")])
    with pytest.raises(ValueError, match=engine.MSG_UNKNOWN_KIND):
        sync([finding()], kind="NOPE")
    with pytest.raises(ValueError, match=engine.MSG_DUPLICATE_FINDING):
        sync([finding(value=Decimal(1)), finding(value=Decimal(2))])
    assert Alert.objects.count() == 0


def test_transitions_need_reasons_and_respect_kinds():
    sync([finding("A/1")], kind="RECEIPT_PENDING")
    sync([price("H/X")], kind="PRICE_OUTLIER", period="2026-09")
    plain = Alert.objects.get(kind="RECEIPT_PENDING")
    priced = Alert.objects.get(kind="PRICE_OUTLIER")
    analyst = bureau_user(BureauFactory(), role=Role.PRICE_ANALYST)
    with pytest.raises(AlertTransitionError, match="仅价格预警") as e:
        engine.alert_confirm(alert_no=plain.alert_no, user=analyst, reason="x")
    assert e.value.code == "not_price_kind"
    with pytest.raises(AlertTransitionError) as e:
        engine.alert_dismiss(alert_no=priced.alert_no, user=analyst, reason="  ")
    assert e.value.code == "reason_required"
    # acknowledge twice = once
    engine.alert_acknowledge(alert_no=plain.alert_no, user=analyst)
    engine.alert_acknowledge(alert_no=plain.alert_no, user=analyst)
    assert plain.events.filter(action="acknowledged").count() == 1
    # dismissed is final: confirm afterwards is refused
    engine.alert_dismiss(alert_no=priced.alert_no, user=analyst, reason="合理波动 / normal")
    with pytest.raises(AlertTransitionError) as e:
        engine.alert_confirm(alert_no=priced.alert_no, user=analyst, reason="x")
    assert e.value.code == "invalid_transition"
    event = priced.events.get(action="dismissed")
    assert (event.user, event.reason, event.from_status, event.to_status) == (
        analyst,
        "合理波动 / normal",
        "open",
        "dismissed",
    )
    # manual resolve, then acknowledge refused
    engine.alert_resolve(alert_no=plain.alert_no, user=analyst, reason="已处理 / handled")
    with pytest.raises(AlertTransitionError):
        engine.alert_acknowledge(alert_no=plain.alert_no, user=analyst)
    assert Alert.objects.get(pk=plain.pk).status == AlertStatus.RESOLVED


def test_notifications_reach_the_responsible_party_and_one_digest_per_user(django_capture_on_commit_callbacks):
    # given an enterprise with two users (one without e-mail) and a bureau operator covering 3710
    ent = EnterpriseFactory()
    u1 = enterprise_user(ent, email="a@example.com")
    u2 = enterprise_user(ent)
    op = bureau_user(BureauFactory(region=RegionFactory(code="371000")), email="op@example.com")
    other = enterprise_user(EnterpriseFactory(), email="other@example.com")
    hosp = HospitalFactory()
    # when a scan finds two enterprise-held alerts and one bureau-held one
    with django_capture_on_commit_callbacks(execute=True):
        sync(
            [
                finding("A/1", enterprise_code=ent.credit_code, responsible="enterprise"),
                finding("B/1", enterprise_code=ent.credit_code, responsible="enterprise"),
                finding("C/1", hospital_code=hosp.code, responsible="bureau", stage="awaiting_batch"),
            ],
            kind="PAYMENT_OVERDUE",
        )
    # then the enterprise users each have two notices, the operator one, the other enterprise none
    assert unread_count(u1) == 2 and unread_count(u2) == 2 and unread_count(op) == 1 and unread_count(other) == 0
    # and one digest per user with an address
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "op@example.com"]
    assert "2" in next(m for m in mail.outbox if m.to == ["a@example.com"]).subject
    # when the same scan runs again nothing new is mailed
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sync(
            [
                finding("A/1", enterprise_code=ent.credit_code, responsible="enterprise"),
                finding("B/1", enterprise_code=ent.credit_code, responsible="enterprise"),
                finding("C/1", hospital_code=hosp.code, responsible="bureau", stage="awaiting_batch"),
            ],
            kind="PAYMENT_OVERDUE",
        )
    assert mail.outbox == [] and Notification.objects.count() == 5
    # and reading clears the badge
    assert notifications_mark_read(user=u1) == 2 and unread_count(u1) == 0


def test_digest_deferred_by_the_caller_sends_one_mail_for_several_partitions(django_capture_on_commit_callbacks):
    ent = EnterpriseFactory()
    enterprise_user(ent, email="e@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        sync(
            [finding("A/1", enterprise_code=ent.credit_code, responsible="enterprise")],
            kind="SUPPLY_DELAY",
            digest=False,
        )
        sync(
            [finding("B/1", region="371102", enterprise_code=ent.credit_code, responsible="enterprise")],
            kind="SUPPLY_DELAY",
            prefix="3711",
            digest=False,
        )
    assert mail.outbox == []
    assert notifications_send_digests() == 1
    assert len(mail.outbox) == 1 and "2" in mail.outbox[0].subject
    assert notifications_send_digests() == 0


def test_a_user_without_an_e_mail_address_gets_notices_already_stamped_mailed(django_capture_on_commit_callbacks):
    # given two users of one enterprise, one with an address and one without
    ent = EnterpriseFactory()
    mailed = enterprise_user(ent, email="e@example.com")
    in_app = enterprise_user(ent)
    # when an alert for the enterprise is raised
    sync([finding("A/1", enterprise_code=ent.credit_code, responsible="enterprise")], digest=False)
    # then both are told in the app; only the notice of the user with an address waits for a digest
    notices = {n.user_id: n for n in Notification.objects.all()}
    assert set(notices) == {mailed.pk, in_app.pk}
    assert notices[mailed.pk].emailed_at is None
    assert notices[in_app.pk].emailed_at == notices[in_app.pk].created_at
    assert notices[in_app.pk].read_at is None
    # and the digest mails the one, and claims nothing of the other
    assert notifications_send_digests() == 1
    assert [m.to for m in mail.outbox] == [["e@example.com"]]
    assert Notification.objects.get(user=in_app).emailed_at == notices[in_app.pk].emailed_at


def test_a_failed_mail_gives_the_notices_back(monkeypatch, django_capture_on_commit_callbacks):
    ent = EnterpriseFactory()
    enterprise_user(ent, email="e@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        sync([finding("A/1", enterprise_code=ent.credit_code, responsible="enterprise")], digest=False)

    class Broken:
        def send_messages(self, messages):
            raise OSError("smtp down")

    monkeypatch.setattr("settlement.services.notifications.get_connection", lambda: Broken())
    with pytest.raises(OSError):
        notifications_send_digests()
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 1
    monkeypatch.undo()
    assert notifications_send_digests() == 1


def test_a_subject_that_moved_region_keeps_its_alert():
    # given an alert raised in 3711 (日照)
    sync([finding("A/1", region="371102")], prefix="3711", kind="RECEIPT_PENDING")
    no = Alert.objects.get().alert_no
    # when the subject is now found in 3710 (its hospital was re-assigned)
    result = sync([finding("A/1", region="371002")], prefix="3710", kind="RECEIPT_PENDING")
    # then it is the same alert, moved, not a duplicate
    assert (result.created, result.updated) == (0, 1)
    alert = Alert.objects.get()
    assert (alert.alert_no, alert.region_code) == (no, "371002")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scans_of_one_partition_racing_make_one_alert_per_subject():
    import threading

    from django.db import connection as default_connection

    findings = [finding(f"R{i}/1") for i in range(200)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            sync(findings, kind="RECEIPT_PENDING")
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            default_connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Alert.objects.filter(kind="RECEIPT_PENDING").count() == 200
    assert AlertEvent.objects.filter(action="created").count() == 200


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_found():
    # given a finding whose message and evidence hold COPY's special characters and Chinese
    message = "少送\t2 盒\n第二行 \\N 反斜杠\\ / short\r\nby 2"
    evidence = {"note": "a\tb\\c\nd", "lines": ["PO1/1", "\\N"], "amount": "12.30"}
    ent = EnterpriseFactory()
    user = enterprise_user(ent, email="e@example.com")
    # when it is raised
    sync(
        [
            finding(
                "A/1",
                message=message,
                evidence=evidence,
                value=Decimal("1.23456"),
                amount=Decimal("10.005"),
                enterprise_code=ent.credit_code,
                responsible="enterprise",
            )
        ],
        digest=False,
    )
    # then the alert and its notice read back exactly; numbers are quantized half-up once
    alert = Alert.objects.get()
    assert (alert.message, alert.evidence) == (message, evidence)
    assert (alert.value, alert.amount, alert.threshold, alert.resolved_at) == (
        Decimal("1.2346"),
        Decimal("10.01"),
        None,
        None,
    )
    assert alert.hospital_code == "" and alert.stage == "" and alert.created_at == alert.updated_at
    notice = Notification.objects.get()
    assert (notice.user_id, notice.alert_id, notice.body, notice.emailed_at) == (user.pk, alert.pk, message, None)
    # and a second scan with the same finding writes nothing
    assert sync(
        [
            finding(
                "A/1",
                message=message,
                evidence=evidence,
                value=Decimal("1.23456"),
                amount=Decimal("10.005"),
                enterprise_code=ent.credit_code,
                responsible="enterprise",
            )
        ],
        digest=False,
    ).as_dict() == {"created": 0, "updated": 0, "escalated": 0, "resolved": 0, "reopened": 0}


def test_a_block_of_new_alerts_gets_one_created_event_each_in_number_order():
    # given a stored alert that reappears (reopen event) next to three new subjects
    sync([finding("OLD/1")])
    sync([])  # resolved
    # when one scan reopens it and raises three new ones of different severities
    result = sync([finding("OLD/1"), finding("N/1", "low"), finding("N/2", "high"), finding("N/3", "critical")])
    assert (result.created, result.reopened) == (3, 1)
    # then every new alert has exactly one "created" event carrying its severity, written after the reopen
    new = list(Alert.objects.filter(subject_key__startswith="N/").order_by("pk"))
    assert [a.alert_no for a in new] == sorted(a.alert_no for a in new)
    created = list(AlertEvent.objects.filter(action="created", alert__in=new).order_by("pk"))
    assert [(e.alert_id, e.to_severity, e.from_status, e.to_status, e.as_of, e.user_id) for e in created] == [
        (a.pk, a.severity, "", "open", D, None) for a in new
    ]
    reopen = AlertEvent.objects.get(action="reopened")
    assert reopen.pk < created[0].pk and len({e.at for e in created}) == 1


def test_the_digest_lists_the_first_notices_and_counts_the_rest(django_capture_on_commit_callbacks):
    # given an enterprise user with 55 new alerts and another with 1
    ent, other = EnterpriseFactory(), EnterpriseFactory()
    enterprise_user(ent, email="e@example.com")
    enterprise_user(other, email="o@example.com")
    many = [
        finding(f"A/{i:02d}", enterprise_code=ent.credit_code, responsible="enterprise", message=f"m{i:02d}")
        for i in range(55)
    ]
    sync([*many, finding("B/1", enterprise_code=other.credit_code, responsible="enterprise")], digest=False)
    # when the digest goes out
    assert notifications_send_digests() == 2
    mine = next(m for m in mail.outbox if m.to == ["e@example.com"])
    # then it lists the first DIGEST_MAX_LINES notices in order and counts the rest
    listed = [line for line in mine.body.splitlines() if line.startswith("- ")]
    assert len(listed) == 50 and listed[0].endswith("A/00") and listed[-1].endswith("A/49")
    assert "55" in mine.subject and "5 more" in mine.body
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0
    assert notifications_send_digests() == 0
