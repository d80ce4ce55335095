"""对账单: gather matched lines into monthly statements, let the hospital confirm them or
dispute lines (DOMAIN.md "Flow of a purchase" 7).

A statement is per hospital × distributor (the invoice's seller) × month of acceptance.
Once a month's statement is confirmed, lines matched later go into a supplementary
statement of the same month (``sequence`` + 1). The deadline is ``STATEMENT_CONFIRM_DAY``
of the following month (per region, parties.policy).

Only blue lines are gathered: a red line either nets into its blue line (matching) or,
when its blue line was already in an approved batch, goes straight into a later batch as
a negative line (settlement.services.batches).

Status table: open → confirmed (``statement_confirm``). Disputing lines keeps the
statement open; each transition and each disputed line writes a ``StatementEvent``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from interchange import bulk
from interchange.bulk import replan_deferred_checks
from parties.models import Hospital, Role
from parties.policy import policy_value
from parties.scoping import sees_everything, user_region_prefix
from settlement.models import (
    ExceptionCode,
    InvoiceKind,
    InvoiceLine,
    MatchStatus,
    Statement,
    StatementEvent,
    StatementStatus,
)
from settlement.selectors.lines import frozen_line_ids_q, parse_line_key, period_bounds
from settlement.selectors.statements import statements_visible
from settlement.services.bulk_writes import rows_update, sqlite_has_update_from
from settlement.services.numbering import number_block

STATEMENT_KIND = "STMT"

# StatementEvent.action values.
ACTION_CREATED = "created"
ACTION_LINES_ADDED = "lines_added"
ACTION_CONFIRMED = "confirmed"
ACTION_DISPUTED = "disputed"

# Transition table: from → {to: action}; nothing else is allowed.
STATEMENT_TRANSITIONS: dict[str, dict[str, str]] = {
    StatementStatus.OPEN: {StatementStatus.CONFIRMED: ACTION_CONFIRMED},
    StatementStatus.CONFIRMED: {},
}

# Reason codes (the API's "code") and messages, reused by tests.
CODE_NOT_FOUND = "statement_not_found"
CODE_NOT_ALLOWED = "statement_not_allowed"
CODE_NOT_OPEN = "statement_not_open"
CODE_REASON_REQUIRED = "dispute_reason_required"
CODE_LINES_REQUIRED = "dispute_lines_required"
CODE_LINE_NOT_ON_STATEMENT = "line_not_on_statement"
CODE_LINE_NOT_DISPUTABLE = "line_not_disputable"
CODE_ALREADY_DISPUTED = "line_already_disputed"
CODE_CHANGED = "statement_changed"

MSG_NOT_FOUND = _("对账单不存在 / statement not found")
MSG_NOT_ALLOWED = _("只有该医院的用户可以确认或提出异议 / only the hospital's users may confirm or dispute")
MSG_NOT_OPEN = _("对账单已确认，不能再提出异议 / the statement is confirmed: no more disputes")
MSG_REASON_REQUIRED = _("请填写异议原因 / a reason is required")
MSG_LINES_REQUIRED = _("请选择有异议的明细 / choose the disputed lines")
MSG_LINE_NOT_ON_STATEMENT = _("明细不在此对账单上 / the line is not on this statement")
MSG_LINE_NOT_DISPUTABLE = _("只能对已匹配的明细提出异议 / only matched lines can be disputed")
MSG_ALREADY_DISPUTED = _("该明细已以其他原因提出异议 / the line is already disputed with another reason")
MSG_CHANGED = _("对账单已有新增明细，请重新核对后确认 / lines were added to the statement: review it again")


class StatementError(Exception):
    """A refused statement action: ``code`` (constant above), bilingual message, HTTP status."""

    def __init__(self, code: str, message, status: int = 400, fields: dict | None = None):
        super().__init__(str(message))
        self.code = code
        self.message = str(message)
        self.status = status
        self.fields = fields or {}


def statement_can_transition(from_status: str, to_status: str) -> bool:
    return to_status in STATEMENT_TRANSITIONS.get(from_status, {})


def deadline_for(period: str, region_code: str | None) -> dt.date:
    """STATEMENT_CONFIRM_DAY of the month after ``period``."""
    _start, next_month = period_bounds(period)
    day = int(policy_value("STATEMENT_CONFIRM_DAY", region_code))
    return next_month.replace(day=day)


# --- building -----------------------------------------------------------------------------


@dataclass
class BuildResult:
    lines_added: int = 0
    statements_created: list[str] = field(default_factory=list)  # their numbers, once statements_number ran
    statements_extended: list[str] = field(default_factory=list)
    # (year, id) of the statements created and not numbered yet, in the order they were created.
    unnumbered: list[tuple[int, int]] = field(default_factory=list)


# A new statement's number until statements_number gives it its own: "~" and 29 hex digits,
# unique (the column is) and never a document number (those are STMT + year + 6 digits).
PENDING_NO_PREFIX = "~"

GATHER_COLUMNS = ["id", "hospital_id", "distributor_id", "accepted", "region"]


def unassigned_lines(*, region_prefix: str | None = None, period: str | None = None) -> pd.DataFrame:
    """The lines a build gathers, locked (pk order): matched blue lines without a statement whose
    delivery line was accepted, not in an approved batch; ``region_prefix`` of the invoice's
    hospital, ``period`` = month of acceptance. Columns ``GATHER_COLUMNS``.

    The acceptance is the line's ``accepted_on``, which matching writes with the status (its
    delivery line's acceptance date): no join with the delivery lines."""
    from parties.identifiers import region_prefix as to_prefix

    qs = InvoiceLine.objects.filter(
        kind=InvoiceKind.BLUE,
        match_status=MatchStatus.MATCHED,
        statement__isnull=True,
        accepted_on__isnull=False,
    ).exclude(frozen_line_ids_q())
    if region_prefix:
        qs = qs.filter(hospital__region__code__startswith=to_prefix(region_prefix))
    if period:
        start, end = period_bounds(period)
        qs = qs.filter(accepted_on__gte=start, accepted_on__lt=end)
    rows = list(
        qs.select_for_update(of=("self",))
        .order_by("pk")
        .values_list("id", "hospital_id", "distributor_id", "accepted_on", "hospital__region_id")
    )
    return pd.DataFrame.from_records(rows, columns=GATHER_COLUMNS)


def builder_lock(hospital_ids: Iterable[str]) -> None:
    """Builders of the same hospital one at a time (PostgreSQL): the hospitals' rows, locked FOR
    NO KEY UPDATE in code order until COMMIT; taken after the lines are locked, by every builder.

    A hospital's statements are looked up and created only under its lock, so two builders
    never both create one hospital × distributor × month; builders of other hospitals (the
    passes of two regions on two workers) go on beside it. FOR NO KEY UPDATE leaves the key
    checks of rows that reference a hospital (FOR KEY SHARE) free. SQLite has one writer."""
    if connection.vendor != "postgresql":
        return
    codes = sorted({str(code) for code in hospital_ids})
    if not codes:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Hospital._meta.db_table} WHERE code = ANY(%s) ORDER BY code FOR NO KEY UPDATE", [codes]
        )


def statements_number(result: BuildResult) -> None:
    """Number the statements this transaction created (``result.unnumbered``), in the order they
    were created, per year: gapless document numbers from the counter row (numbering.number_block),
    whose lock is held until COMMIT. So every builder takes it last, after its lines are written:
    two builders wait for each other only for this and their COMMIT, not for a whole pass.
    Appends the numbers to ``result.statements_created``."""
    if not result.unnumbered:
        return
    by_year: dict[int, list[int]] = {}
    for year, pk in result.unnumbered:
        by_year.setdefault(year, []).append(pk)
    for year, pks in sorted(by_year.items()):
        numbers = number_block(kind=STATEMENT_KIND, year=year, count=len(pks))
        if connection.vendor == "postgresql" or sqlite_has_update_from():
            rows_update(
                table=Statement._meta.db_table,
                columns=(("id", "bigint PRIMARY KEY"), ("no", "varchar(30)")),
                frame=pd.DataFrame({"id": pd.Series(pks, dtype="int64"), "no": pd.Series(numbers, dtype=object)}),
                assignments="no = v.no",
            )
        else:
            Statement.objects.bulk_update(
                [Statement(pk=pk, no=no) for pk, no in zip(pks, numbers, strict=True)], ["no"], batch_size=100
            )
        result.statements_created.extend(numbers)
    result.unnumbered.clear()


@transaction.atomic
def statements_build(*, region_prefix: str | None = None, period: str | None = None) -> BuildResult:
    """Put every matched blue line without a statement onto its hospital × distributor ×
    acceptance-month statement: the open one, or a new one (a supplementary one when that
    month's last statement is confirmed). ``period`` filters by month of acceptance.

    Matching does the same within its own pass (``invoices_match(build_statements=True)``)."""
    df = unassigned_lines(region_prefix=region_prefix, period=period)  # the lines first, then the builder lock:
    builder_lock(df["hospital_id"])  # the same order as matching's pass, so two builders never wait in a cycle
    result = BuildResult()
    if df.empty:
        return result
    df["statement_id"] = statements_for(df, result)
    statement_ids_write(df[["id", "statement_id"]])
    statements_number(result)
    return result


def statements_for(df: pd.DataFrame, result: BuildResult) -> np.ndarray:
    """The statement of each line of ``df`` (``GATHER_COLUMNS``, in pk order, locked by the caller,
    under ``builder_lock`` of its hospitals): the open statement of its hospital × distributor ×
    month of acceptance, or a new one, created here with its events, as is the ``lines_added``
    event of each statement. The caller writes the lines' statement_id, then numbers the new
    statements (``statements_number``: until then each has a pending number). Fills ``result``."""
    if df.empty:
        return np.zeros(0, dtype="int64")
    df = df.assign(period=_periods(df["accepted"]))
    groups = df[["hospital_id", "distributor_id", "period", "region"]].drop_duplicates(
        ["hospital_id", "distributor_id", "period"]
    )

    existing = (
        Statement.objects.select_for_update()
        .filter(
            hospital_id__in=groups["hospital_id"].unique().tolist(),
            distributor_id__in=groups["distributor_id"].unique().tolist(),
            period__in=groups["period"].unique().tolist(),
        )
        .order_by("pk")
        .values_list("id", "no", "hospital_id", "distributor_id", "period", "sequence", "status")
    )
    last: dict[tuple, tuple] = {}
    for sid, no, h, d, p, seq, status in existing:
        key = (h, d, p)
        if key not in last or seq > last[key][2]:
            last[key] = (sid, no, seq, status)

    target: dict[tuple, int] = {}
    to_create: list[tuple] = []  # (key, sequence, region)
    for h, d, p, region in groups.itertuples(index=False):
        found = last.get((h, d, p))
        if found and found[3] == StatementStatus.OPEN:
            target[(h, d, p)] = found[0]
            result.statements_extended.append(found[1])
        else:
            to_create.append(((h, d, p), found[2] + 1 if found else 0, region))

    if to_create:
        # Numbered by year, then in the order found (statements_number keeps this order).
        to_create.sort(key=lambda item: int(item[0][2][:4]))
        new_statements = [
            Statement(
                no=f"{PENDING_NO_PREFIX}{uuid.uuid4().hex[:29]}",
                hospital_id=h,
                distributor_id=d,
                period=p,
                sequence=seq,
                status=StatementStatus.OPEN,
                deadline=deadline_for(p, region),
            )
            for (h, d, p), seq, region in to_create
        ]
        created = Statement.objects.bulk_create(new_statements)
        if any(s.pk is None for s in created):  # a backend without RETURNING: read them back
            ids = dict(Statement.objects.filter(no__in=[s.no for s in created]).values_list("no", "id"))
            for s in created:
                s.pk = s.id = ids[s.no]
        for s in created:
            target[(s.hospital_id, s.distributor_id, s.period)] = s.pk
            result.unnumbered.append((int(s.period[:4]), s.pk))
        _events_insert([s.pk for s in created], ACTION_CREATED, to_status=StatementStatus.OPEN)
        replan_deferred_checks()  # the lines and events reference the new statements: checked at COMMIT

    # Per line, vectorised: the position of its (hospital, distributor, month) among the targets.
    wanted = pd.MultiIndex.from_tuples(list(target), names=["hospital_id", "distributor_id", "period"])
    where = wanted.get_indexer(pd.MultiIndex.from_frame(df[["hospital_id", "distributor_id", "period"]]))
    if (where < 0).any():  # every group got a target above; a miss would be a bug, not data
        raise RuntimeError("statements_for: a line's hospital, distributor and month has no statement")
    statement_ids = np.fromiter(target.values(), dtype="int64", count=len(target))[where]
    counts = pd.Series(statement_ids).value_counts(sort=False).sort_index()
    _events_insert(counts.index.to_list(), ACTION_LINES_ADDED, reasons=[f"{int(n)}" for n in counts.to_numpy()])
    result.lines_added += len(df)
    return statement_ids


def _events_insert(
    statement_ids: list[int], action: str, *, to_status: str = "", reasons: list[str] | None = None
) -> None:
    """One event per statement, by the system (no user), in the order given: on PostgreSQL one
    COPY (interchange.bulk.copy_insert), not an INSERT compiled value by value by the ORM (a
    whole-region pass writes thousands of events: 0.9 s of a pass at L, now 0.15 s)."""
    n = len(statement_ids)
    if not n:
        return
    nulls = pd.Series([None] * n, dtype="Int64")
    frame = pd.DataFrame(
        {
            "statement_id": pd.Series(statement_ids, dtype="int64"),
            "at": pd.Series([timezone.now()] * n, dtype="datetime64[ns, UTC]"),
            "user_id": nulls,
            "action": pd.Series([action] * n, dtype=object),
            "from_status": pd.Series([""] * n, dtype=object),
            "to_status": pd.Series([str(to_status)] * n, dtype=object),
            "reason": pd.Series(reasons if reasons is not None else [""] * n, dtype=object),
            "invoice_line_id": nulls,
        }
    )
    kinds = {"at": "timestamp"}
    if connection.vendor == "postgresql":  # at once, whatever import may be collecting its rows (bulk.collecting)
        bulk.copy_insert(
            StatementEvent, bulk.copy_text(frame, kinds), text_columns=("action", "from_status", "to_status", "reason")
        )
    else:
        bulk.bulk_create_frame(StatementEvent, frame, {"at": bulk.aware_datetimes})


def _periods(accepted: pd.Series) -> pd.Series:
    """``YYYY-MM`` of each acceptance date, formatted once per distinct month, not per line."""
    dates = pd.to_datetime(accepted)
    if dates.isna().any():  # not expected (only accepted lines are gathered); the plain way then
        return dates.dt.strftime("%Y-%m")
    months = (dates.dt.year * 100 + dates.dt.month).to_numpy()
    names = {int(m): f"{m // 100:04d}-{m % 100:02d}" for m in np.unique(months)}
    return pd.Series([names[m] for m in months.tolist()], index=accepted.index, dtype=object)


def statement_ids_write(frame: pd.DataFrame) -> None:
    """Set statement_id per line id with one UPDATE … FROM (settlement.services.bulk_writes)."""
    if connection.vendor != "postgresql" and not sqlite_has_update_from():
        objs = [InvoiceLine(id=int(i), statement_id=int(s)) for i, s in frame.itertuples(index=False)]
        InvoiceLine.objects.bulk_update(objs, ["statement_id"], batch_size=100)
        return
    rows_update(
        table=InvoiceLine._meta.db_table,
        columns=(("id", "bigint PRIMARY KEY"), ("statement_id", "bigint")),
        frame=frame.astype("int64"),
        assignments="statement_id = v.statement_id",
    )


# --- confirming and disputing ---------------------------------------------------------------


def _may_act(user, statement: Statement, *, on_behalf: bool) -> bool:
    """The hospital's own users; with ``on_behalf`` (the operator's command) also admins and
    bureau operators whose region covers the hospital. Superusers act in every role."""
    return _may_act_for(user, statement.hospital_id, lambda: statement.hospital.region_id, on_behalf=on_behalf)


def _may_act_for(user, hospital_id: str, region_of, *, on_behalf: bool) -> bool:
    """``_may_act`` on a statement's hospital code; ``region_of()`` gives the hospital's region code."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if user.role == Role.HOSPITAL:
        return user.hospital_id == hospital_id
    if not on_behalf:
        return False
    if sees_everything(user):
        return True
    if user.role == Role.BUREAU_OPERATOR:
        prefix = user_region_prefix(user)
        return bool(prefix) and region_of().startswith(prefix)
    return False


def _locked_statement(*, statement_no: str, user, on_behalf: bool) -> Statement:
    """The statement, locked; 404 when the user may not see it, 403 when they may see but not act."""
    visible = statements_visible(user).filter(no=statement_no)
    if on_behalf and not visible.exists():
        visible = Statement.objects.filter(no=statement_no)  # the command's operator acts beyond page scope
    statement = visible.select_for_update().select_related("hospital").first()
    if statement is None:
        raise StatementError(CODE_NOT_FOUND, MSG_NOT_FOUND, status=404)
    if not _may_act(user, statement, on_behalf=on_behalf):
        if on_behalf:
            raise StatementError(CODE_NOT_FOUND, MSG_NOT_FOUND, status=404)
        raise StatementError(CODE_NOT_ALLOWED, MSG_NOT_ALLOWED, status=403)
    return statement


@transaction.atomic
def statement_confirm(
    *,
    statement_no: str,
    user,
    on_behalf: bool = False,
    reason: str = "",
    expected_lines: int | None = None,
) -> Statement:
    """The hospital confirms its statement: its matched, undisputed lines become settleable.

    Idempotent: confirming a confirmed statement returns it unchanged (no second event).
    ``expected_lines``: how many lines the confirming person saw; if matching has added
    lines since, the confirmation is refused (409) so nobody confirms a line unseen.
    ``on_behalf``: an operator confirms for a hospital that answered outside the system
    (``manage.py confirm_statements``); ``reason`` is recorded.
    """
    statement = _locked_statement(statement_no=statement_no, user=user, on_behalf=on_behalf)
    if statement.status == StatementStatus.CONFIRMED:
        return statement
    if expected_lines is not None and statement.lines.count() != int(expected_lines):
        raise StatementError(CODE_CHANGED, MSG_CHANGED, status=409)
    if not statement_can_transition(statement.status, StatementStatus.CONFIRMED):  # pragma: no cover - table guard
        raise StatementError(CODE_NOT_OPEN, MSG_NOT_OPEN, status=409)
    before = statement.status
    statement.status = StatementStatus.CONFIRMED
    statement.confirmed_at = timezone.now()
    statement.confirmed_by = user
    statement.save(update_fields=["status", "confirmed_at", "confirmed_by"])
    StatementEvent.objects.create(
        statement=statement,
        user=user,
        action=ACTION_CONFIRMED,
        from_status=before,
        to_status=statement.status,
        reason=reason,
    )
    return statement


SQLITE_CHUNK = 5000  # ids per statement on SQLite (its bound-parameter limit); PostgreSQL takes them all at once


def _chunks(items: list) -> list[list]:
    size = len(items) if connection.vendor == "postgresql" else SQLITE_CHUNK
    return [items[i : i + size] for i in range(0, len(items), max(size, 1))]


@transaction.atomic
def statements_confirm(*, statement_nos, user, on_behalf: bool = False, reason: str = "") -> list[str]:
    """Confirm many statements at once, set-based: what ``statement_confirm`` does to each of
    them, in one transaction — the statements locked in pk order, one UPDATE, one
    INSERT … SELECT of their history rows (in statement number order).

    All or nothing: an unknown statement, or one the user may not act on, refuses the whole
    call (the first such number, in the order given, is named) and changes nothing.
    Idempotent: statements already confirmed are left alone (no second history row).
    Returns the numbers confirmed by this call, in the order given.
    """
    order = list(dict.fromkeys(str(no) for no in statement_nos))
    if not order:
        return []
    rows: dict[str, tuple] = {}
    for chunk in _chunks(order):
        for sid, no, hospital_id, region, status in (
            Statement.objects.filter(no__in=chunk)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("id", "no", "hospital_id", "hospital__region_id", "status")
        ):
            rows[no] = (sid, hospital_id, region, status)
    visible: set[int] | None = None
    if not on_behalf:  # beyond the page scope it is "not found", as for one statement
        ids = [r[0] for r in rows.values()]
        visible = set()
        for chunk in _chunks(ids):
            visible |= set(statements_visible(user).filter(pk__in=chunk).values_list("pk", flat=True))
    for no in order:
        found = rows.get(no)
        if found is None or (visible is not None and found[0] not in visible):
            raise StatementError(CODE_NOT_FOUND, f"{MSG_NOT_FOUND}: {no}", status=404)
        sid, hospital_id, region, _status = found
        if not _may_act_for(user, hospital_id, lambda r=region: r, on_behalf=on_behalf):
            if on_behalf:
                raise StatementError(CODE_NOT_FOUND, f"{MSG_NOT_FOUND}: {no}", status=404)
            raise StatementError(CODE_NOT_ALLOWED, f"{MSG_NOT_ALLOWED}: {no}", status=403)
    todo = [no for no in order if rows[no][3] == StatementStatus.OPEN]
    if not todo:
        return []
    if not statement_can_transition(StatementStatus.OPEN, StatementStatus.CONFIRMED):  # pragma: no cover - table guard
        raise StatementError(CODE_NOT_OPEN, MSG_NOT_OPEN, status=409)
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value(now)
    statement_table, event_table = Statement._meta.db_table, StatementEvent._meta.db_table
    with connection.cursor() as cursor:
        for chunk in _chunks(todo):
            ids = [rows[no][0] for no in chunk]
            marks = ", ".join(["%s"] * len(ids))
            Statement.objects.filter(pk__in=ids, status=StatementStatus.OPEN).update(
                status=StatementStatus.CONFIRMED, confirmed_at=now, confirmed_by=user
            )
            cursor.execute(
                f"INSERT INTO {event_table} (statement_id, at, user_id, action, from_status, to_status, reason) "
                f"SELECT s.id, %s, %s, %s, %s, %s, %s FROM {statement_table} s WHERE s.id IN ({marks}) "
                "ORDER BY s.no",
                [at, user.pk, ACTION_CONFIRMED, StatementStatus.OPEN, StatementStatus.CONFIRMED, reason, *ids],
            )
    return todo


def _lines_for(statement: Statement, invoice_line_ids, line_keys) -> list[InvoiceLine]:
    wanted_ids = {int(i) for i in (invoice_line_ids or [])}
    wanted_keys: set[tuple[str, str, int]] = set()
    bad: list[str] = []
    for key in line_keys or []:
        try:
            wanted_keys.add(parse_line_key(key))
        except ValueError:
            bad.append(str(key))
    if not wanted_ids and not wanted_keys and not bad:
        raise StatementError(CODE_LINES_REQUIRED, MSG_LINES_REQUIRED, fields={"lines": [str(MSG_LINES_REQUIRED)]})
    q = Q(pk__in=wanted_ids)
    for code, number, line_no in wanted_keys:
        q |= Q(invoice_code=code, invoice_no=number, line_no=line_no)
    lines = list(InvoiceLine.objects.select_for_update().filter(q, statement=statement).order_by("pk"))
    found_ids = {line.pk for line in lines}
    found_keys = {(line.invoice_code, line.invoice_no, line.line_no) for line in lines}
    missing = [str(i) for i in sorted(wanted_ids - found_ids)] + [
        f"{c}-{n}/{ln}" if c else f"{n}/{ln}" for c, n, ln in sorted(wanted_keys - found_keys)
    ]
    missing += bad
    if missing:
        raise StatementError(
            CODE_LINE_NOT_ON_STATEMENT,
            MSG_LINE_NOT_ON_STATEMENT,
            fields={"lines": [f"{m}: {MSG_LINE_NOT_ON_STATEMENT}" for m in missing]},
        )
    return lines


@transaction.atomic
def statement_dispute(
    *,
    statement_no: str,
    reason: str,
    user,
    invoice_line_ids: list[int] | None = None,
    line_keys: list[str] | None = None,
) -> list[InvoiceLine]:
    """The hospital disputes lines of its open statement with a reason: each gets DISPUTED
    (status exception) and keeps its statement so the distributor sees the reason. A
    corrected invoice (red + new blue) re-enters matching.

    Idempotent: disputing an already disputed line with the same reason changes nothing.
    """
    reason = (reason or "").strip()
    statement = _locked_statement(statement_no=statement_no, user=user, on_behalf=False)
    if not reason:
        raise StatementError(CODE_REASON_REQUIRED, MSG_REASON_REQUIRED, fields={"reason": [str(MSG_REASON_REQUIRED)]})
    lines = _lines_for(statement, invoice_line_ids, line_keys)
    fresh = [line for line in lines if not line.dispute_reason]
    for line in lines:
        if line.dispute_reason and line.dispute_reason != reason:
            raise StatementError(CODE_ALREADY_DISPUTED, MSG_ALREADY_DISPUTED, status=409)
    if fresh and statement.status != StatementStatus.OPEN:
        raise StatementError(CODE_NOT_OPEN, MSG_NOT_OPEN, status=409)
    for line in fresh:
        if line.match_status != MatchStatus.MATCHED:
            raise StatementError(CODE_LINE_NOT_DISPUTABLE, MSG_LINE_NOT_DISPUTABLE, status=409)
    for line in fresh:
        codes = set(filter(None, line.exception_codes.split(";"))) | {ExceptionCode.DISPUTED.value}
        line.dispute_reason = reason
        line.exception_codes = ";".join(sorted(codes))
        line.match_status = MatchStatus.EXCEPTION
        line.matched_at = timezone.now()
    InvoiceLine.objects.bulk_update(fresh, ["dispute_reason", "exception_codes", "match_status", "matched_at"])
    StatementEvent.objects.bulk_create(
        [
            StatementEvent(
                statement=statement,
                user=user,
                action=ACTION_DISPUTED,
                from_status=MatchStatus.MATCHED,
                to_status=MatchStatus.EXCEPTION,
                reason=reason,
                invoice_line=line,
            )
            for line in fresh
        ]
    )
    return lines
