"""Template context of the shell (base.html): the role's menu and the unread-notification count.

The count comes from ``settlement.selectors.notifications.unread_count(user)`` once the
alerts feature provides that module; until then it is 0. It is computed only when a
template shows it.
"""

from __future__ import annotations

import functools
import importlib
import logging

from django.urls import NoReverseMatch, reverse

from parties.web.navigation import menu_for

logger = logging.getLogger(__name__)

NOTIFICATIONS_MODULE = "settlement.selectors.notifications"
NOTIFICATIONS_URL_NAME = "notifications"  # the inbox page, when a feature defines it


@functools.cache
def _unread_count_function():
    try:
        module = importlib.import_module(NOTIFICATIONS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and NOTIFICATIONS_MODULE.startswith(exc.name):
            return None  # the module is not there (yet)
        raise
    return getattr(module, "unread_count", None)


def unread_notifications(user) -> int:
    if not user.is_authenticated:
        return 0
    func = _unread_count_function()
    if func is None:
        return 0
    return int(func(user) or 0)


class _Lazy:
    """Evaluated on first use in a template, once."""

    def __init__(self, compute):
        self._compute = compute
        self._value = None
        self._done = False

    def __call__(self):
        if not self._done:
            self._value = self._compute()
            self._done = True
        return self._value


def _notifications_url() -> str | None:
    try:
        return reverse(NOTIFICATIONS_URL_NAME)
    except NoReverseMatch:
        return None


def shell(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_menu": [], "unread_notifications": 0, "notifications_url": None}
    return {
        "nav_menu": _Lazy(lambda: menu_for(user)),
        "unread_notifications": _Lazy(lambda: unread_notifications(user)),
        "notifications_url": _Lazy(_notifications_url),
    }
