"""Numbers of documents and of alerts.

Documents (statements, batches, instructions, collection orders): a locked counter row
per (kind, year), advanced with F() — gapless, the lock is held until the caller commits.

Alerts are not documents: a gap (a scan rolled back) is harmless, and the alert syncs of
several workers must not wait for each other's commit. On PostgreSQL their numbers come
from a SEQUENCE per (kind, year) (``number_block_unlocked``): sequences are outside
transactions, so no lock outlives the call. Elsewhere (SQLite serialises writers
anyway) they fall back to the counter row.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, OperationalError, ProgrammingError, connection, connections, transaction
from django.db.models import F

from settlement.models import DocumentCounter

_LOCK_SPACE = 0x4E4F  # advisory lock key space of the number sequences ("NO")
_KIND_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")


@transaction.atomic
def number_next(*, kind: str, year: int, prefix: str | None = None, width: int = 6) -> str:
    """The next number, e.g. ``number_next(kind="BATCH", year=2026)`` → ``BATCH2026000001``.

    Safe under concurrency: the counter row is created once (unique constraint) and
    advanced under ``select_for_update``; a rolled-back caller gives its number back.
    """
    return number_block(kind=kind, year=year, count=1, prefix=prefix, width=width)[0]


@transaction.atomic
def number_block(*, kind: str, year: int, count: int, prefix: str | None = None, width: int = 6) -> list[str]:
    """``count`` consecutive numbers in one round trip (for bulk-created documents)."""
    if count <= 0:
        return []
    try:
        with transaction.atomic():
            DocumentCounter.objects.get_or_create(kind=kind, year=year)
    except IntegrityError:  # created by a concurrent caller between our get and create
        pass
    counter = DocumentCounter.objects.select_for_update().get(kind=kind, year=year)
    start = counter.last + 1
    DocumentCounter.objects.filter(pk=counter.pk).update(last=F("last") + count)
    return _format(kind, year, start, count, prefix, width)


def _format(kind: str, year: int, start: int, count: int, prefix: str | None, width: int) -> list[str]:
    head = prefix if prefix is not None else kind
    return [f"{head}{year}{n:0{width}d}" for n in range(start, start + count)]


# --- numbers that may have gaps (alerts) ----------------------------------------------


def sequence_name(kind: str, year: int) -> str:
    if not _KIND_RE.match(kind) or not 1000 <= int(year) <= 9999:
        raise ValueError(f"bad number kind/year: {kind!r} {year!r}")
    return f"jicai_number_{kind.lower()}_{int(year)}"


def number_block_unlocked(*, kind: str, year: int, count: int, prefix: str | None = None, width: int = 6) -> list[str]:
    """``count`` consecutive numbers that hold no lock beyond this call (PostgreSQL).

    Unique and increasing, but not gapless: numbers taken by a transaction that rolls
    back are not given back. The block is consecutive (the callers select their new rows
    by range): ``nextval`` + ``setval`` under a session advisory lock released at once.
    The sequence is created on first use on a separate autocommit connection (so no
    caller's open transaction holds its catalogue rows), starting after the kind's
    counter row, which it supersedes.
    """
    if count <= 0:
        return []
    if connection.vendor != "postgresql":
        return number_block(kind=kind, year=year, count=count, prefix=prefix, width=width)
    seq = sequence_name(kind, year)
    with connection.cursor() as cur:
        # By oid, found with a plain catalogue query: a name looked up through regclass
        # before the sequence existed stays cached as missing for the rest of a transaction.
        cur.execute(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND c.relkind = 'S' AND n.nspname = current_schema()",
            [seq],
        )
        row = cur.fetchone()
        oid = row[0] if row else _create_sequence(kind, year, seq)
        cur.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [_LOCK_SPACE, seq])
        try:
            # In a savepoint: should it fail, the caller's transaction stays usable for the unlock.
            with transaction.atomic():
                cur.execute("SELECT setval(%s::oid, nextval(%s::oid) + %s - 1)", [oid, oid, count])
                last = cur.fetchone()[0]
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [_LOCK_SPACE, seq])
    return _format(kind, year, last - count + 1, count, prefix, width)


def _create_sequence(kind: str, year: int, seq: str) -> int:
    """CREATE SEQUENCE on a connection of its own, committed at once: created inside the
    caller's transaction, every other caller's CREATE would wait for that commit."""
    wrapper = connections[connection.alias]
    side = type(wrapper)(dict(wrapper.settings_dict), wrapper.alias)
    try:
        side.set_autocommit(True)
        with side.cursor() as cur:
            cur.execute(
                "SELECT COALESCE(MAX(last), 0) FROM settlement_documentcounter WHERE kind = %s AND year = %s",
                [kind, year],
            )
            start = cur.fetchone()[0] + 1
            try:
                cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {seq} AS bigint MINVALUE 1 START {int(start)}")
            except (IntegrityError, ProgrammingError, OperationalError):
                # A concurrent creator won the race (catalogue unique index); use theirs.
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", [seq])
                if not cur.fetchone()[0]:
                    raise
            cur.execute("SELECT %s::regclass::oid", [seq])
            return cur.fetchone()[0]
    finally:
        side.close()
