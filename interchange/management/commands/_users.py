"""Resolving ``--user U`` for the interchange commands."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

MSG_UNKNOWN_USER = "用户不存在 / unknown user: {}"


def user_or_none(username: str | None):
    if not username:
        return None
    User = get_user_model()  # noqa: N806 - a class
    try:
        return User.objects.select_related("enterprise", "hospital", "bureau").get(username=username)
    except User.DoesNotExist:
        raise CommandError(MSG_UNKNOWN_USER.format(username)) from None
