"""Refused authorisations: one line to the ``security`` logger and one SecurityEvent row.

Kept cheap (one INSERT, no look-ups) and never allowed to break the answer it records:
a database error while recording is logged and swallowed.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction

from parties.models import SecurityEvent

logger = logging.getLogger("security")

KIND_FORBIDDEN = "forbidden"  # 403: authenticated but not allowed (role, CSRF, …)
KIND_NOT_FOUND_SCOPE = "not_found_scope"  # 404: the record exists but belongs to another party
KIND_LOGIN_FAILED = "login_failed"  # wrong credentials, or a login refused during lockout
KIND_LOCKED_OUT = "locked_out"  # django-axes locked the username + IP

_PATH_MAX = SecurityEvent._meta.get_field("path").max_length
_DETAIL_MAX = SecurityEvent._meta.get_field("detail").max_length


def _request_path(request) -> str:
    if request is None:
        return ""
    return str(getattr(request, "path", "") or "")


def security_event_record(
    *, kind: str, user=None, request=None, path: str = "", detail: str = ""
) -> SecurityEvent | None:
    """Record one refusal. ``user`` defaults to the request's authenticated user."""
    if user is None and request is not None:
        candidate = getattr(request, "user", None)
        user = candidate if candidate is not None and candidate.is_authenticated else None
    elif user is not None and not user.is_authenticated:
        user = None
    path = (path or _request_path(request))[:_PATH_MAX]
    detail = str(detail)[:_DETAIL_MAX]
    logger.warning(
        "refused kind=%s user=%s path=%s detail=%s", kind, getattr(user, "username", "-") or "-", path, detail
    )
    try:
        with transaction.atomic():
            return SecurityEvent.objects.create(kind=kind, user=user, path=path, detail=detail)
    except DatabaseError:  # e.g. inside a transaction that is already broken
        logger.exception("could not store security event kind=%s path=%s", kind, path)
        return None
