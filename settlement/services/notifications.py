"""站内通知 and e-mail digests for alerts.

Who is told: the users of the organisation responsible for an alert —
enterprise → the enterprise's users; hospital → the hospital's users; bureau or bank →
the operators and approvers of every bureau whose region covers the alert's region
(the bureau chases the bank); no responsible party → the bureau's operators. Price kinds
also go to the price analysts of the covering bureaus.

E-mail: one digest per user per scan. The in-app rows are written with the alerts; the
digest claims a user's not-yet-mailed rows (emailed_at) in a transaction and sends after
it commits; a failed send gives the claim back so the next digest carries them. A user
without an e-mail address gets in-app notices only: they are written already stamped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from parties.identifiers import region_prefix
from parties.models import BUREAU_ROLES, Role, User
from settlement.models import Alert, AlertKind, Notification
from settlement.models.alerts import PRICE_KINDS
from settlement.services.alert_engine import insert_rows

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
DIGEST_MAX_LINES = 50  # alerts listed in a mail; the rest are counted

REASON_TITLES = {
    "created": "新预警 / new alert",
    "escalated": "预警升级 / alert escalated",
    "reopened": "预警再次出现 / alert reopened",
}
DIGEST_SUBJECT = "[集采结算] 预警摘要 / alert digest: {count}"
MSG_ALL_READ = "全部已读 / all marked read"

NOTIFICATION_COLUMNS = (
    "user_id",
    "alert_id",
    "kind",
    "reason",
    "title",
    "body",
    "created_at",
    "read_at",
    "emailed_at",
)
CHASING_ROLES = (Role.BUREAU_OPERATOR, Role.BUREAU_APPROVER)


def _recipients(alerts: list[Alert]) -> dict[int, list[int]]:
    """alert index → user ids, in a constant number of queries."""
    hospital_codes = {a.hospital_code for a in alerts if a.hospital_code}
    enterprise_codes = {a.enterprise_code for a in alerts if a.enterprise_code}
    by_hospital: dict[str, list[int]] = defaultdict(list)
    by_enterprise: dict[str, list[int]] = defaultdict(list)
    active = User.objects.filter(is_active=True)
    if hospital_codes:
        for uid, code in active.filter(role=Role.HOSPITAL, hospital_id__in=hospital_codes).values_list(
            "id", "hospital_id"
        ):
            by_hospital[code].append(uid)
    if enterprise_codes:
        for uid, code in active.filter(role=Role.ENTERPRISE, enterprise_id__in=enterprise_codes).values_list(
            "id", "enterprise_id"
        ):
            by_enterprise[code].append(uid)
    # Bureau staff are few: by coverage prefix (2, 4 or 6 digits) and role.
    chasers: dict[str, list[int]] = defaultdict(list)
    analysts: dict[str, list[int]] = defaultdict(list)
    for uid, role, region in active.filter(role__in=BUREAU_ROLES, bureau__isnull=False).values_list(
        "id", "role", "bureau__region_id"
    ):
        (analysts if role == Role.PRICE_ANALYST else chasers)[region_prefix(region)].append(uid)

    def covering(table: dict[str, list[int]], region_code: str) -> list[int]:
        out: list[int] = []
        for n in (2, 4, 6):
            out.extend(table.get(region_code[:n], ()))
        return out

    result: dict[int, list[int]] = {}
    for i, a in enumerate(alerts):
        users: list[int] = []
        if a.responsible == "enterprise":
            users += by_enterprise.get(a.enterprise_code, [])
        elif a.responsible == "hospital":
            users += by_hospital.get(a.hospital_code, [])
        elif a.responsible in ("bureau", "bank") or a.kind not in PRICE_KINDS:
            users += covering(chasers, a.region_code)
        if a.kind in PRICE_KINDS:
            users += covering(analysts, a.region_code)
        result[i] = list(dict.fromkeys(users))
    return result


def notifications_for_alerts(*, alerts: Iterable[tuple[Alert, str]]) -> set[int]:
    """Write the in-app notices for new/escalated/reopened alerts; return the users told.

    Called by the engine inside its transaction; set-based (a few queries + bulk_create).
    """
    pairs = list(alerts)
    if not pairs:
        return set()
    recipients = _recipients([a for a, _ in pairs])
    # A notice to a user without an e-mail address is stamped mailed as it is written:
    # no digest will carry it, and claiming it later was an UPDATE of every such row
    # (the largest statement of the L alert scan: 50–59 s for 2.77M notices).
    told = {uid for users in recipients.values() for uid in users}
    mailable = set(User.objects.filter(pk__in=told).exclude(email="").values_list("pk", flat=True)) if told else set()
    now = timezone.now()
    labels = {k.value: str(k.label) for k in AlertKind}  # one translation per kind, not per row
    rows: list[tuple] = []
    for i, (alert, reason) in enumerate(pairs):
        user_ids = recipients[i]
        if not user_ids:
            continue
        label = labels.get(alert.kind) or str(AlertKind(alert.kind).label)
        title = f"{REASON_TITLES.get(reason, reason)}: {label} {alert.subject_key}"[:200]
        for uid in user_ids:
            rows.append(
                (uid, alert.pk, alert.kind, reason, title, alert.message, now, None, None if uid in mailable else now)
            )
    insert_rows(Notification, NOTIFICATION_COLUMNS, rows)
    return {r[0] for r in rows}


def notifications_send_digests_on_commit(*, user_ids: Iterable[int] | None = None) -> None:
    ids = None if user_ids is None else sorted(set(user_ids))
    transaction.on_commit(lambda: notifications_send_digests(user_ids=ids))


def _claim(user_ids: list[int] | None) -> tuple[int, object]:
    """Mark pending notices as mailed now, in one statement; return how many and the claim time.

    Rows another digest holds locked are skipped (SKIP LOCKED); the claimed rows are the
    ones whose emailed_at equals the returned claim time (microseconds), which is how the
    digest reads them back and how a failed send gives them back.
    """
    now = timezone.now()
    with transaction.atomic():
        pending = Notification.objects.filter(emailed_at__isnull=True)
        if user_ids is not None:
            pending = pending.filter(user_id__in=user_ids)
        # UPDATE … WHERE id IN (SELECT id … ORDER BY id FOR UPDATE SKIP LOCKED): rows locked in pk order.
        locked = pending.order_by("pk").select_for_update(skip_locked=True).values("pk")
        claimed = Notification.objects.filter(pk__in=locked).update(emailed_at=now)
    return claimed, now


def notifications_send_digests(*, user_ids: Iterable[int] | None = None) -> int:
    """One e-mail per user carrying every notice not mailed yet; returns mails sent.

    Run after the scan has committed (never inside a transaction that may roll back).
    Users without an e-mail address keep their in-app notices only: stamped when written,
    or marked mailed here if the address went between the scan and the digest.
    """
    claimed, claimed_at = _claim(None if user_ids is None else list(user_ids))
    if not claimed:
        return 0
    mine = Notification.objects.filter(emailed_at=claimed_at)
    if user_ids is not None:
        mine = mine.filter(user_id__in=list(user_ids))
    per_user: dict[int, list[tuple[str, str]]] = defaultdict(list)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for uid, kind, n in mine.values_list("user_id", "kind").annotate(n=Count("id")).order_by():
        counts[uid][kind] = n
    # The first DIGEST_MAX_LINES notices of each user (by pk), in one query.
    first = (
        mine.annotate(rank=Window(RowNumber(), partition_by=[F("user_id")], order_by=F("pk").asc()))
        .filter(rank__lte=DIGEST_MAX_LINES)
        .order_by("user_id", "pk")
        .values_list("user_id", "title", "body")
    )
    for uid, title, body in first:
        per_user[uid].append((title, body))
    emails = dict(User.objects.filter(pk__in=list(counts)).exclude(email="").values_list("id", "email"))
    messages = []
    for uid, by_kind in sorted(counts.items()):
        if uid not in emails:
            continue
        total = sum(by_kind.values())
        lines = ["您有新的预警 / You have new alerts:", ""]
        for kind, n in sorted(by_kind.items()):
            label = AlertKind(kind).label if kind in AlertKind.values else kind
            lines.append(f"  {label}: {n}")
        lines.append("")
        for title, body in per_user[uid]:
            lines.append(f"- {title}")
            if body:
                lines.append(f"  {body}")
        if total > len(per_user[uid]):
            lines.append(f"… 另有 {total - len(per_user[uid])} 条 / and {total - len(per_user[uid])} more")
        messages.append(
            EmailMessage(
                subject=DIGEST_SUBJECT.format(count=total),
                body="\n".join(lines),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[emails[uid]],
            )
        )
    if not messages:
        return 0
    try:
        sent = get_connection().send_messages(messages) or 0
    except Exception:
        # Give the claim back: the next digest carries these notices.
        log.exception("alert digest mail failed; notices stay pending")
        mine.update(emailed_at=None)
        raise
    return sent


@transaction.atomic
def notifications_mark_read(*, user, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's notices read (all unread ones when no ids are given)."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=list(notification_ids))
    return qs.update(read_at=timezone.now())
