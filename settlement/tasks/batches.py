"""Celery tasks of batches and payments: thin, take numbers/ids, safe to run twice
(every service they call is idempotent: an approved batch is returned unchanged, a
confirmation already loaded is skipped, recognised allocations are not posted again)."""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import OperationalError

RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 3}


def _user(user_id: int | None):
    return get_user_model().objects.filter(pk=user_id).first() if user_id else None


@shared_task(name="settlement.batch_approve", acks_late=True, **RETRY)
def batch_approve_task(batch_no: str, user_id: int) -> str:
    from settlement.services.batches import batch_approve

    return batch_approve(batch_no=batch_no, user=_user(user_id)).status


@shared_task(name="settlement.allocations_recognise", acks_late=True, **RETRY)
def allocations_recognise_task(period: str | None = None) -> int:
    """Post the fund allocations imported since (e.g. after a fund_allocations import)."""
    from settlement.services.ledger import allocations_recognise

    return allocations_recognise(period=period)


@shared_task(name="settlement.ledger_verify", acks_late=True)
def ledger_verify_task() -> list[str]:
    from settlement.services.ledger import ledger_verify

    return [str(v) for v in ledger_verify()]
