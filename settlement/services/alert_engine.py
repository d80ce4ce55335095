"""The alert engine shared by every scan (payment/receipt/statement/collection/agreement/supply
in settlement.services.alert_scans, price kinds in price_monitor).

A scan computes the *findings* of one kind in one partition (region prefix, and month for
price kinds) and hands them to :func:`alerts_sync`, which reconciles them with the stored
alerts in one pass:

- a finding without an alert creates one (numbered with ``number_block_unlocked``: a block of
  consecutive numbers, no lock held until commit);
- a finding with an open/acknowledged alert updates it (value, threshold, message,
  evidence …); a change of severity, stage or responsible party is recorded as an event;
- a finding with a resolved alert reopens it (the condition came back);
- an open/acknowledged alert of the partition that no finding names is resolved
  (unless ``auto_resolve=False``: SUPPLY_DELAY records a fact and stays);
- confirmed/dismissed alerts (an analyst's verdict) are left alone.

New, escalated and reopened alerts notify the responsible organisation's users in-app,
and by e-mail in one digest per user sent after commit (settlement.services.notifications).

History: a row per change of status, severity, stage or responsible party. The daily
counters (days overdue …) move every day and live on the alert itself (value,
last_seen_on), not in the history: 10^5 overdue lines would otherwise write 10^5 rows a
day saying "one day later".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from interchange.bulk import replan_deferred_checks
from settlement.models import Alert, AlertEvent, AlertKind, AlertSeverity, AlertStatus, SubjectType
from settlement.models.alerts import ACTIVE_STATUSES, FINAL_STATUSES, PRICE_KINDS, SEVERITY_RANK
from settlement.selectors.alerts import fold_alert_tally
from settlement.services.numbering import number_block_unlocked

Action = AlertEvent.Action

ALERT_NUMBER_KIND = "ALERT"
ALERT_NUMBER_PREFIX = "AL"
ALERT_NUMBER_WIDTH = 8  # up to 10^8 alerts a year: the daily scans of a large province raise 10^5 a day
BATCH_SIZE = 2000

RESPONSIBLE_VALUES = frozenset({"enterprise", "hospital", "bureau", "bank", ""})
STAGE_VALUES = frozenset(
    {
        "",
        "awaiting_invoice",
        "exception",
        "awaiting_hospital_confirmation",
        "awaiting_batch",
        "awaiting_approval",
        "awaiting_bank",
    }
)

# Reasons written into the history by the engine and the transitions (tests reuse them).
REASON_CLEARED = "条件已消除 / condition cleared"
REASON_REAPPEARED = "条件再次出现 / condition appeared again"
REASON_FOUND = "扫描发现 / found by scan"

# Error messages (the API turns them into {"code", "detail"}).
MSG_UNKNOWN_KIND = "未知预警类型 / unknown alert kind"
MSG_BAD_SEVERITY = "预警级别无效 / invalid severity"
MSG_BAD_SUBJECT_TYPE = "预警对象类型无效 / invalid subject type"
MSG_BAD_RESPONSIBLE = "责任方无效 / invalid responsible party"
MSG_BAD_STAGE = "环节无效 / invalid stage"
MSG_OUTSIDE_PARTITION = "发现不属于本次扫描分区 / finding outside the scanned partition"
MSG_DUPLICATE_FINDING = "同一对象重复发现且内容不同 / the same subject found twice with different content"
MSG_REASON_REQUIRED = "须填写原因 / a reason is required"
MSG_NOT_PRICE_KIND = "仅价格预警可确认或排除 / only price alerts can be confirmed or dismissed"
MSG_BAD_TRANSITION = "当前状态不允许此操作 / this alert's status does not allow this action"


class AlertTransitionError(Exception):
    """A transition refused by the alert's status or kind; ``code`` for the API."""

    def __init__(self, message: str, code: str = "invalid_transition"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class AlertFinding:
    subject_type: str  # invoice_line | delivery_line | order_line | statement | collection | agreement | hospital_product | product_region
    subject_key: str  # per INTERCHANGE.md alerts table, parts joined by "/"
    severity: str  # low | medium | high | critical
    region_code: str  # the hospital's region code, or the product_region's region
    period: str = ""  # YYYY-MM for price alerts (blank for LISTING_ABOVE_REFERENCE and non-price kinds)
    value: Decimal | None = None
    threshold: Decimal | None = None
    message: str = ""  # Chinese first, English after " / "
    evidence: dict = field(default_factory=dict)  # JSON-safe: Decimals as strings
    hospital_code: str = ""  # responsible/concerned hospital if any
    enterprise_code: str = ""  # concerned enterprise (credit code) if any
    responsible: str = ""  # enterprise | hospital | bureau | bank | ""
    stage: str = ""  # PAYMENT_*: awaiting_invoice | exception | awaiting_hospital_confirmation | awaiting_batch | awaiting_approval | awaiting_bank
    amount: Decimal | None = None  # yuan, 2 decimals: the money concerned (payment kinds); optional

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subject_type, self.subject_key, self.period)


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    escalated: int = 0
    resolved: int = 0
    reopened: int = 0
    notified_users: set[int] = field(default_factory=set)

    def __iadd__(self, other: SyncResult) -> SyncResult:
        self.created += other.created
        self.updated += other.updated
        self.escalated += other.escalated
        self.resolved += other.resolved
        self.reopened += other.reopened
        self.notified_users |= other.notified_users
        return self

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "escalated": self.escalated,
            "resolved": self.resolved,
            "reopened": self.reopened,
        }


# Fields a scan may rewrite on an existing alert.
_TRACKED = (
    "severity",
    "value",
    "threshold",
    "amount",
    "message",
    "evidence",
    "region_code",
    "hospital_code",
    "enterprise_code",
    "responsible",
    "stage",
)
_LOAD_FIELDS = (
    "id",
    "alert_no",
    "kind",
    "status",
    "subject_type",
    "subject_key",
    "period",
    "last_seen_on",
    "resolved_at",
    *_TRACKED,
)


class _Stored:
    """A stored alert as a sync sees it: plain attributes named like the model's fields."""

    __slots__ = (*_LOAD_FIELDS, "updated_at")

    def __init__(self, values: tuple):
        for name, value in zip(_LOAD_FIELDS, values, strict=True):
            setattr(self, name, value)
        self.updated_at = None

    @property
    def pk(self) -> int:
        return self.id


def _dec(value: Decimal | None, places: str) -> Decimal | None:
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _validate(kind: str, region_prefix: str, period: str | None, findings: list[AlertFinding]) -> list[AlertFinding]:
    if kind not in AlertKind.values:
        raise ValueError(f"{MSG_UNKNOWN_KIND}: {kind}")
    subject_types = set(SubjectType.values)
    by_key: dict[tuple[str, str, str], AlertFinding] = {}
    for f in findings:
        if f.severity not in SEVERITY_RANK:
            raise ValueError(f"{MSG_BAD_SEVERITY}: {f.severity}")
        if f.subject_type not in subject_types:
            raise ValueError(f"{MSG_BAD_SUBJECT_TYPE}: {f.subject_type}")
        if f.responsible not in RESPONSIBLE_VALUES:
            raise ValueError(f"{MSG_BAD_RESPONSIBLE}: {f.responsible}")
        if f.stage not in STAGE_VALUES:
            raise ValueError(f"{MSG_BAD_STAGE}: {f.stage}")
        if not f.region_code.startswith(region_prefix) or (period is not None and f.period != period):
            raise ValueError(f"{MSG_OUTSIDE_PARTITION}: {f.subject_type} {f.subject_key} {f.region_code} {f.period}")
        earlier = by_key.get(f.key)
        if earlier is not None and earlier != f:
            raise ValueError(f"{MSG_DUPLICATE_FINDING}: {f.subject_type} {f.subject_key} {f.period}")
        by_key[f.key] = f
    return list(by_key.values())


def alerts_sync(
    *,
    kind: str,
    region_prefix: str,
    period: str | None,
    findings: Iterable[AlertFinding],
    as_of: dt.date,
    user=None,
    auto_resolve: bool = True,
    digest: bool = True,
) -> SyncResult:
    """Reconcile the stored alerts of ``kind`` in one partition with a scan's findings.

    The partition is every alert of ``kind`` whose region_code starts with
    ``region_prefix`` ("" = everywhere) and, when ``period`` is given, of that period.
    Running it twice with the same findings changes nothing the second time.
    ``digest=False`` leaves the e-mail digest to the caller (a scan of many partitions
    sends one digest per user at its end: notifications_send_digests).
    """
    found = _validate(kind, region_prefix, period, list(findings))
    # A concurrent scan of the same partition may insert the same subject first: the
    # unique constraint refuses ours, and a second pass sees theirs and updates it.
    for attempt in range(2):
        try:
            result = _sync_once(
                kind=kind,
                region_prefix=region_prefix,
                period=period,
                found=found,
                as_of=as_of,
                user=user,
                auto_resolve=auto_resolve,
                digest=digest,
            )
        except IntegrityError:
            if attempt:
                raise
        else:
            fold_alert_tally()  # the rows the triggers appended for the alerts created
            return result
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic
def _sync_once(
    *,
    kind: str,
    region_prefix: str,
    period: str | None,
    found: list[AlertFinding],
    as_of: dt.date,
    user,
    auto_resolve: bool,
    digest: bool,
) -> SyncResult:
    from settlement.services.notifications import notifications_for_alerts, notifications_send_digests_on_commit

    result = SyncResult()
    now = timezone.now()
    user_id = getattr(user, "pk", None)

    # One query: every alert of the partition, locked in pk order. Plain rows, not model
    # instances: a partition holds 10^5 alerts and most do not change.
    partition_q = Q(region_code__startswith=region_prefix) if region_prefix else Q()
    if period is not None:
        partition_q &= Q(period=period)
    existing_qs = Alert.objects.filter(kind=kind).filter(partition_q).order_by("pk").select_for_update()
    existing: dict[tuple[str, str, str], _Stored] = {}
    for values in existing_qs.values_list(*_LOAD_FIELDS):
        row = _Stored(values)
        existing[(row.subject_type, row.subject_key, row.period)] = row
    # A finding whose alert sits outside the partition (its subject's region changed) is
    # that alert, not a new one: look the missing keys up (they are few after the first scan).
    elsewhere: dict[tuple[str, str, str], _Stored] = {}
    missing = [f for f in found if f.key not in existing]
    if missing and (region_prefix or period is not None):
        outside = Alert.objects.filter(kind=kind).exclude(partition_q)
        keys = sorted({f.subject_key for f in missing})
        if connection.vendor == "postgresql":
            # One statement whatever the number of keys: the array is hashed, not expanded
            # into 10^5 parameters (a first scan of a partition misses every key).
            chunks = [outside.filter(subject_key__in=RawSQL("SELECT unnest(%s::varchar[])", [keys]))]
        else:
            chunks = [outside.filter(subject_key__in=keys[i : i + BATCH_SIZE]) for i in range(0, len(keys), BATCH_SIZE)]
        for qs in chunks:
            for values in qs.order_by("pk").select_for_update().values_list(*_LOAD_FIELDS):
                row = _Stored(values)
                elsewhere[(row.subject_type, row.subject_key, row.period)] = row

    to_create: list[AlertFinding] = []
    to_update: list[Alert] = []
    update_fields: set[str] = set()
    events: list[tuple] = []  # rows of EVENT_COLUMNS
    notify: list[tuple[Alert, str]] = []  # (alert, reason)

    for f in found:
        alert = existing.pop(f.key, None) or elsewhere.pop(f.key, None)
        if alert is None:
            to_create.append(f)
            continue
        if alert.status in FINAL_STATUSES:
            continue  # an analyst's verdict stands
        changed = _apply(alert, f)
        if alert.status == AlertStatus.RESOLVED:
            events.append(
                _event(
                    alert.pk,
                    as_of,
                    user_id,
                    at=now,
                    action=Action.REOPENED,
                    from_status=AlertStatus.RESOLVED,
                    to_status=AlertStatus.OPEN,
                    from_severity=changed.get("severity", (alert.severity,))[0],
                    to_severity=alert.severity,
                    reason=REASON_REAPPEARED,
                )
            )
            alert.status = AlertStatus.OPEN
            alert.resolved_at = None
            changed["status"] = (AlertStatus.RESOLVED, AlertStatus.OPEN)
            changed["resolved_at"] = (None, None)
            result.reopened += 1
            notify.append((alert, Action.REOPENED))
        else:
            if "severity" in changed:
                old, new = changed["severity"]
                up = SEVERITY_RANK[new] > SEVERITY_RANK[old]
                events.append(
                    _event(
                        alert.pk,
                        as_of,
                        user_id,
                        at=now,
                        action=Action.ESCALATED if up else Action.DEESCALATED,
                        from_status=alert.status,
                        to_status=alert.status,
                        from_severity=old,
                        to_severity=new,
                        reason=f.message,
                    )
                )
                if up:
                    result.escalated += 1
                    notify.append((alert, Action.ESCALATED))
            party = {k: list(v) for k, v in changed.items() if k in ("stage", "responsible")}
            if party:
                events.append(
                    _event(
                        alert.pk,
                        as_of,
                        user_id,
                        at=now,
                        action=Action.STAGE_CHANGED,
                        from_status=alert.status,
                        to_status=alert.status,
                        reason=f.message,
                        changes=party,
                    )
                )
        if alert.last_seen_on != as_of:
            changed["last_seen_on"] = (alert.last_seen_on, as_of)
            alert.last_seen_on = as_of
        if changed:
            alert.updated_at = now
            changed["updated_at"] = (None, now)
            to_update.append(alert)
            update_fields.update(changed)
            result.updated += 1

    # Not found again: the condition cleared.
    to_resolve = [a for a in existing.values() if a.status in ACTIVE_STATUSES] if auto_resolve else []
    for alert in to_resolve:
        events.append(
            _event(
                alert.pk,
                as_of,
                user_id,
                at=now,
                action=Action.RESOLVED,
                from_status=alert.status,
                to_status=AlertStatus.RESOLVED,
                from_severity=alert.severity,
                to_severity=alert.severity,
                reason=REASON_CLEARED,
            )
        )
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.updated_at = now
        to_update.append(alert)
    if to_resolve:
        update_fields.update({"status", "resolved_at", "updated_at"})
        result.resolved = len(to_resolve)

    if to_update:
        _bulk_write(to_update, sorted(update_fields - {"id"}))

    if to_create:
        # From a sequence (PostgreSQL): the partition syncs of several workers do not wait
        # for each other's commit; a rolled-back sync leaves a gap, harmless for alerts.
        numbers = number_block_unlocked(
            kind=ALERT_NUMBER_KIND,
            year=as_of.year,
            count=len(to_create),
            prefix=ALERT_NUMBER_PREFIX,
            width=ALERT_NUMBER_WIDTH,
        )
        new_alerts = _create(kind, to_create, numbers, as_of=as_of, now=now)
        # Creation events of the block in one INSERT … SELECT (after the other events: same order as before).
        if events:
            insert_rows(AlertEvent, EVENT_COLUMNS, events)
            events = []
        _created_events(numbers, as_of=as_of, user_id=user_id, now=now)
        notify.extend((a, Action.CREATED) for a in new_alerts)
        result.created = len(new_alerts)

    if events:
        insert_rows(AlertEvent, EVENT_COLUMNS, events)
    if notify:
        result.notified_users = notifications_for_alerts(alerts=notify)
        if digest and result.notified_users:
            notifications_send_digests_on_commit(user_ids=result.notified_users)
    if result.created:
        replan_deferred_checks()  # events and notices reference the new alerts: checked at COMMIT
    return result


EVENT_COLUMNS = (
    "alert_id",
    "at",
    "as_of",
    "user_id",
    "action",
    "from_status",
    "to_status",
    "from_severity",
    "to_severity",
    "reason",
    "changes",
)
# The columns a new alert is written with (every concrete field but the pk).
ALERT_COLUMNS = (
    "alert_no",
    "kind",
    "severity",
    "status",
    "subject_type",
    "subject_key",
    "period",
    "region_code",
    "hospital_code",
    "enterprise_code",
    "responsible",
    "stage",
    "value",
    "threshold",
    "amount",
    "message",
    "evidence",
    "first_seen_on",
    "last_seen_on",
    "created_at",
    "updated_at",
    "resolved_at",
)


def _event(
    alert_id,
    as_of,
    user_id,
    *,
    action,
    from_status="",
    to_status="",
    from_severity="",
    to_severity="",
    reason="",
    changes=None,
    at=None,
) -> tuple:
    """A history row (EVENT_COLUMNS) as a plain tuple: a scan writes 10^5 of them."""
    return (
        alert_id,
        at or timezone.now(),
        as_of,
        user_id,
        action,
        from_status,
        to_status,
        from_severity,
        to_severity,
        reason,
        changes or {},
    )


class _New:
    """A just-created alert as notifications see it (no model instance per row)."""

    __slots__ = (
        "pk",
        "alert_no",
        "kind",
        "subject_key",
        "message",
        "severity",
        "region_code",
        "hospital_code",
        "enterprise_code",
        "responsible",
    )

    def __init__(self, pk, alert_no, kind, f: AlertFinding):
        self.pk = pk
        self.alert_no = alert_no
        self.kind = kind
        self.subject_key = f.subject_key
        self.message = f.message
        self.severity = f.severity
        self.region_code = f.region_code
        self.hospital_code = f.hospital_code
        self.enterprise_code = f.enterprise_code
        self.responsible = f.responsible


def _create(kind: str, found: list[AlertFinding], numbers: list[str], *, as_of: dt.date, now) -> list[_New]:
    """INSERT the new alerts (COPY on PostgreSQL) and read their ids back by number, in one query."""
    rows = [
        (
            no,
            kind,
            f.severity,
            AlertStatus.OPEN.value,
            f.subject_type,
            f.subject_key,
            f.period,
            f.region_code,
            f.hospital_code,
            f.enterprise_code,
            f.responsible,
            f.stage,
            _dec(f.value, "0.0001"),
            _dec(f.threshold, "0.0001"),
            _dec(f.amount, "0.01"),
            f.message,
            f.evidence,
            as_of,
            as_of,
            now,
            now,
            None,
        )
        for no, f in zip(numbers, found, strict=True)
    ]
    insert_rows(Alert, ALERT_COLUMNS, rows)
    ids = dict(_block(numbers).values_list("alert_no", "pk"))
    if len(ids) != len(numbers):  # pragma: no cover - the block is ours (taken under the advisory lock)
        raise AssertionError("alert number block not written as expected")
    return [_New(ids[no], no, kind, f) for no, f in zip(numbers, found, strict=True)]


def _block_where(numbers: list[str]) -> tuple[str, list]:
    """SQL condition for the alerts numbered in a block from number_block_unlocked: consecutive numbers
    of one width are a range of the unique index."""
    if len(numbers[0]) == len(numbers[-1]):
        return "alert_no >= %s AND alert_no <= %s", [numbers[0], numbers[-1]]
    return f"alert_no IN ({', '.join(['%s'] * len(numbers))})", list(numbers)  # pragma: no cover - width overflow


def _block(numbers: list[str]):
    if len(numbers[0]) == len(numbers[-1]):
        return Alert.objects.filter(alert_no__gte=numbers[0], alert_no__lte=numbers[-1])
    return Alert.objects.filter(alert_no__in=numbers)  # pragma: no cover - width overflow


def _created_events(numbers: list[str], *, as_of: dt.date, user_id, now) -> None:
    """One 'created' history row per alert of the block, in one INSERT … SELECT (pk order)."""
    qn = connection.ops.quote_name
    where, params = _block_where(numbers)
    cols = ", ".join(qn(c) for c in EVENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(AlertEvent._meta.db_table)} ({cols}) "
            f"SELECT id, %s, %s, %s, %s, %s, %s, %s, severity, %s, %s FROM {qn(Alert._meta.db_table)} "
            f"WHERE {where} ORDER BY id",
            [
                _db_value(AlertEvent._meta.get_field("at"), now),
                _db_value(AlertEvent._meta.get_field("as_of"), as_of),
                user_id,
                Action.CREATED.value,
                "",
                AlertStatus.OPEN.value,
                "",
                REASON_FOUND,
                _db_value(AlertEvent._meta.get_field("changes"), {}),
                *params,
            ],
        )


def _db_value(f, value):
    """A parameter for field ``f`` of a raw statement."""
    return f.get_db_prep_save(value, connection)


def _copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, dt.date):  # date and aware datetime
        value = value.isoformat()
    else:
        value = str(value)
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def insert_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT plain tuples (values in ``columns`` order, Python types) into ``model``'s table.

    PostgreSQL: one COPY FROM STDIN (no per-row statement, no parameter mogrifying);
    SQLite: one prepared INSERT run by executemany. Same rows either way.
    """
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    cols = ", ".join(qn(c) for c in columns)
    if connection.vendor == "postgresql":
        import io

        buf = io.StringIO()
        buf.writelines("\t".join([_copy_text(v) for v in row]) + "\n" for row in rows)
        buf.seek(0)
        with connection.cursor() as cursor, connection.wrap_database_errors:
            cursor.cursor.copy_expert(f"COPY {table} ({cols}) FROM STDIN", buf)
        return
    fields = [model._meta.get_field(c) if not c.endswith("_id") else model._meta.get_field(c[:-3]) for c in columns]
    converters = [_sqlite_value_converter(f) for f in fields]
    params = [[convert(v) for convert, v in zip(converters, row, strict=True)] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(columns))})", params)


def _sqlite_value_converter(f):
    from django.db import models as m

    if isinstance(f, m.DateTimeField):
        return lambda v: connection.ops.adapt_datetimefield_value(v)
    if isinstance(f, m.DecimalField):
        return lambda v: None if v is None else str(v)
    if isinstance(f, m.DateField):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(f, m.JSONField):
        return lambda v: json.dumps(v)
    if isinstance(f, m.BooleanField):
        return lambda v: None if v is None else int(v)
    return lambda v: v


def bulk_insert(objs: list, *, fetch_ids_by: str | None = None) -> None:
    """INSERT many rows of one model; with ``fetch_ids_by`` (a unique field) set their pks.

    PostgreSQL: Django's bulk_create (RETURNING ids, large batches). SQLite: Django caps a
    statement at 999 parameters (≈ 45 alerts), so 10^5 rows would be 2,000 compiled
    statements; one prepared INSERT run by executemany is ~20× faster, then the ids are
    read back by the unique key in chunks.
    """
    if not objs:
        return
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    if connection.vendor == "postgresql":
        from psycopg2.extras import execute_values

        converters = [_pg_insert_converter(f) for f in fields]
        rows = [[convert(o) for convert in converters] for o in objs]
        sql = f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES %s RETURNING {qn(model._meta.pk.column)}"
        with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg2 errors → Django's
            ids = execute_values(cursor.cursor, sql, rows, page_size=BATCH_SIZE, fetch=True)
        for o, (pk,) in zip(objs, ids, strict=True):
            o.pk = pk
            o._state.adding = False
        return
    if connection.vendor != "sqlite":
        model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
        return
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    converters = [_sqlite_converter(f) for f in fields]
    rows = [[convert(o) for convert in converters] for o in objs]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    if fetch_ids_by:
        keys = [getattr(o, fetch_ids_by) for o in objs]
        ids: dict = {}
        for i in range(0, len(keys), BATCH_SIZE):
            chunk = keys[i : i + BATCH_SIZE]
            ids.update(model.objects.filter(**{f"{fetch_ids_by}__in": chunk}).values_list(fetch_ids_by, "pk"))
        for o in objs:
            o.pk = ids[getattr(o, fetch_ids_by)]
            o._state.adding = False


def _pg_insert_converter(f):
    """obj → the psycopg2 parameter of field ``f`` for an INSERT (auto timestamps set now)."""
    from django.db import models as m

    if isinstance(f, m.DateTimeField) and (f.auto_now or f.auto_now_add):
        now = timezone.now()

        def stamp(o):
            setattr(o, f.attname, now)
            return now

        return stamp
    if isinstance(f, m.JSONField):
        from psycopg2.extras import Json

        return lambda o: Json(getattr(o, f.attname))
    return lambda o: getattr(o, f.attname)


def _sqlite_converter(f):
    """obj → the SQLite parameter of field ``f``, without Django's per-value machinery
    (which costs ~100 µs a row): timestamps set once per call, the rest by type."""
    from django.db import models as m

    if isinstance(f, m.DateTimeField) and (f.auto_now or f.auto_now_add):
        now = timezone.now()
        stamp = connection.ops.adapt_datetimefield_value(now)

        def convert(o):
            setattr(o, f.attname, now)  # what pre_save(add=True) would set
            return stamp

        return convert
    if isinstance(f, m.DateTimeField):
        return lambda o: connection.ops.adapt_datetimefield_value(getattr(o, f.attname))
    if isinstance(f, m.DecimalField):
        return lambda o: None if getattr(o, f.attname) is None else str(getattr(o, f.attname))
    if isinstance(f, m.DateField):
        return lambda o: None if getattr(o, f.attname) is None else getattr(o, f.attname).isoformat()
    if isinstance(f, m.JSONField):
        return lambda o: json.dumps(getattr(o, f.attname))
    if isinstance(f, m.BooleanField):
        return lambda o: None if getattr(o, f.attname) is None else int(getattr(o, f.attname))
    return lambda o: getattr(o, f.attname)


def _param_converter(f):
    """obj → the value to send for field ``f`` of an UPDATE (the obj's value as set)."""
    from django.db import models as m

    if connection.vendor == "sqlite" and isinstance(f, m.DateTimeField):
        return lambda o: connection.ops.adapt_datetimefield_value(getattr(o, f.attname))
    if connection.vendor == "sqlite":
        return _sqlite_converter(f)
    if connection.vendor == "postgresql" and isinstance(f, m.JSONField):
        from psycopg2.extras import Json

        return lambda o: Json(getattr(o, f.attname))
    if connection.vendor == "postgresql":
        return lambda o: getattr(o, f.attname)  # psycopg2 adapts Decimal, date, aware datetime, str
    return lambda o: f.get_db_prep_save(getattr(o, f.attname), connection)


def _bulk_write(alerts: list, names: list[str]) -> None:
    """UPDATE many alerts by pk, each with its own values, in a few statements.

    Django's bulk_update builds CASE WHEN per field, which grows quadratically with the
    batch; a daily scan rewrites 10^5 alerts (days overdue moved on), so: one prepared
    UPDATE run by executemany on SQLite, UPDATE … FROM (VALUES …) pages on PostgreSQL.
    """
    fields = [Alert._meta.get_field(n) for n in names]
    qn = connection.ops.quote_name
    table = qn(Alert._meta.db_table)
    converters = [_param_converter(f) for f in fields]
    rows = [[convert(a) for convert in converters] + [a.pk] for a in alerts]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            columns = ", ".join(qn(f.column) for f in fields)
            sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in fields)
            template = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ", %s::bigint)"
            sql = f"UPDATE {table} AS t SET {sets} FROM (VALUES %s) AS v ({columns}, id) WHERE t.id = v.id"
            with connection.wrap_database_errors:  # psycopg2 errors → Django's
                execute_values(cursor.cursor, sql, rows, template=template, page_size=BATCH_SIZE)
        else:
            sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
            cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", rows)


def _apply(alert: Alert, f: AlertFinding) -> dict[str, tuple]:
    """Copy the finding onto the alert; return field → (old, new) for what changed."""
    new = {
        "severity": f.severity,
        "value": _dec(f.value, "0.0001"),
        "threshold": _dec(f.threshold, "0.0001"),
        "amount": _dec(f.amount, "0.01"),
        "message": f.message,
        "evidence": f.evidence,
        "region_code": f.region_code,
        "hospital_code": f.hospital_code,
        "enterprise_code": f.enterprise_code,
        "responsible": f.responsible,
        "stage": f.stage,
    }
    changed = {}
    for name, value in new.items():
        old = getattr(alert, name)
        if old != value:
            changed[name] = (old, value)
            setattr(alert, name, value)
    return changed


# ---------------------------------------------------------------------------
# Transitions by people (API / pages). Each locks the alert, checks, writes, records.
# ---------------------------------------------------------------------------

# action → (statuses it may start from, status it leads to, price kinds only, reason required)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, bool, bool]] = {
    Action.ACKNOWLEDGED: ((AlertStatus.OPEN,), AlertStatus.ACKNOWLEDGED, False, False),
    Action.CONFIRMED: ((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), AlertStatus.CONFIRMED, True, True),
    Action.DISMISSED: ((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), AlertStatus.DISMISSED, True, True),
    Action.RESOLVED: ((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), AlertStatus.RESOLVED, False, False),
}


def can_transition(alert: Alert, action: str) -> bool:
    sources, target, price_only, _reason = TRANSITIONS[action]
    if price_only and alert.kind not in PRICE_KINDS:
        return False
    return alert.status in sources or alert.status == target


def _transition(*, alert_no: str, user, action: str, reason: str) -> Alert:
    sources, target, price_only, reason_required = TRANSITIONS[action]
    reason = (reason or "").strip()
    alert = Alert.objects.select_for_update().get(alert_no=alert_no)
    if price_only and alert.kind not in PRICE_KINDS:
        raise AlertTransitionError(_(MSG_NOT_PRICE_KIND), code="not_price_kind")
    if alert.status == target:
        return alert  # replay: already there, nothing to record
    if reason_required and not reason:
        raise AlertTransitionError(_(MSG_REASON_REQUIRED), code="reason_required")
    if alert.status not in sources:
        raise AlertTransitionError(_(MSG_BAD_TRANSITION), code="invalid_transition")
    now = timezone.now()
    AlertEvent.objects.create(
        alert=alert,
        user=user,
        action=action,
        from_status=alert.status,
        to_status=target,
        from_severity=alert.severity,
        to_severity=alert.severity,
        reason=reason,
    )
    alert.status = target
    fields = ["status", "updated_at"]
    if target == AlertStatus.RESOLVED:
        alert.resolved_at = now
        fields.append("resolved_at")
    alert.save(update_fields=fields)
    return alert


@transaction.atomic
def alert_acknowledge(*, alert_no: str, user, reason: str = "") -> Alert:
    """open → acknowledged: someone took note. The scans keep tracking it."""
    return _transition(alert_no=alert_no, user=user, action=Action.ACKNOWLEDGED, reason=reason)


@transaction.atomic
def alert_confirm(*, alert_no: str, user, reason: str) -> Alert:
    """Price kinds: open/acknowledged → confirmed (feeds the credit record); reason required."""
    return _transition(alert_no=alert_no, user=user, action=Action.CONFIRMED, reason=reason)


@transaction.atomic
def alert_dismiss(*, alert_no: str, user, reason: str) -> Alert:
    """Price kinds: open/acknowledged → dismissed; reason required."""
    return _transition(alert_no=alert_no, user=user, action=Action.DISMISSED, reason=reason)


@transaction.atomic
def alert_resolve(*, alert_no: str, user, reason: str = "") -> Alert:
    """open/acknowledged → resolved by hand; a later scan that finds it again reopens it."""
    return _transition(alert_no=alert_no, user=user, action=Action.RESOLVED, reason=reason)


ACTIONS = {
    "acknowledge": Action.ACKNOWLEDGED,
    "confirm": Action.CONFIRMED,
    "dismiss": Action.DISMISSED,
    "resolve": Action.RESOLVED,
}


@dataclass
class BulkResult:
    changed: list[str] = field(default_factory=list)  # alert numbers moved
    unchanged: list[str] = field(default_factory=list)  # already there (replay)
    refused: dict[str, str] = field(default_factory=dict)  # alert_no → error code


@transaction.atomic
def alerts_bulk_transition(*, alert_nos: Iterable[str], user, action: str, reason: str = "") -> BulkResult:
    """The same transition on many alerts (an analyst's bulk confirm/dismiss): rows locked
    in pk order, one UPDATE per target status and one bulk insert of history rows.
    Alerts that may not move are reported, not moved; the rest move."""
    if action not in ACTIONS:
        raise ValueError(action)
    act = ACTIONS[action]
    sources, target, price_only, reason_required = TRANSITIONS[act]
    reason = (reason or "").strip()
    if reason_required and not reason:
        raise AlertTransitionError(_(MSG_REASON_REQUIRED), code="reason_required")
    result = BulkResult()
    alerts = list(Alert.objects.filter(alert_no__in=list(alert_nos)).order_by("pk").select_for_update())
    moving: list[Alert] = []
    for a in alerts:
        if price_only and a.kind not in PRICE_KINDS:
            result.refused[a.alert_no] = "not_price_kind"
        elif a.status == target:
            result.unchanged.append(a.alert_no)
        elif a.status not in sources:
            result.refused[a.alert_no] = "invalid_transition"
        else:
            moving.append(a)
    if moving:
        now = timezone.now()
        AlertEvent.objects.bulk_create(
            [
                AlertEvent(
                    alert_id=a.pk,
                    user=user,
                    action=act,
                    from_status=a.status,
                    to_status=target,
                    from_severity=a.severity,
                    to_severity=a.severity,
                    reason=reason,
                )
                for a in moving
            ]
        )
        update = {"status": target, "updated_at": now}
        if target == AlertStatus.RESOLVED:
            update["resolved_at"] = now
        Alert.objects.filter(pk__in=[a.pk for a in moving]).update(**update)
        result.changed = [a.alert_no for a in moving]
    return result


__all__ = [
    "alerts_bulk_transition",
    "AlertFinding",
    "AlertSeverity",
    "AlertTransitionError",
    "SyncResult",
    "alert_acknowledge",
    "alert_confirm",
    "alert_dismiss",
    "alert_resolve",
    "alerts_sync",
    "can_transition",
]
