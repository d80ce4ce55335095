"""Shared by the batch, payment and ledger commands: the acting user and one-line errors."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from settlement.services.batch_rules import SettlementError


def acting_user(username: str | None):
    """The person responsible (``--user``); a one-line CommandError when missing or unknown."""
    if not username:
        raise CommandError("--user 必填 / --user is required")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"用户不存在 / unknown user: {username}")
    return user


def parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CommandError(f"{option} 须为 YYYY-MM-DD / {option} must be YYYY-MM-DD: {value!r}") from None


def refused(exc: SettlementError) -> CommandError:
    return CommandError(f"{exc.code}: {exc.message}")
