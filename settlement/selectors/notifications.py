"""Reads of in-app notifications (the header's unread badge, the notification list)."""

from __future__ import annotations

from django.db.models import QuerySet

from settlement.models import Notification


def unread_count(user) -> int:
    """How many of ``user``'s notices are unread (0 for anonymous users). One query."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()


def notifications_for(user, *, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user_id=user.pk)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")
