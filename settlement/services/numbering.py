"""Document numbers: a locked counter row per (kind, year), advanced with F()."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from settlement.models import DocumentCounter


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
    head = prefix if prefix is not None else kind
    return [f"{head}{year}{n:0{width}d}" for n in range(start, start + count)]
