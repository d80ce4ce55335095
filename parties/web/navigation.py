"""The menu of each role. Features add their pages here: (url name, label, roles)."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from parties.models import Role

E, H, OP, AP, PA, AD = (
    Role.ENTERPRISE,
    Role.HOSPITAL,
    Role.BUREAU_OPERATOR,
    Role.BUREAU_APPROVER,
    Role.PRICE_ANALYST,
    Role.ADMIN,
)

# (url name, label, roles that see it). Order is menu order.
MENU: list[tuple[str, object, tuple[str, ...]]] = [
    ("home", _("首页"), (E, H, OP, AP, PA, AD)),
]


def menu_for(user) -> list[dict]:
    role = Role.ADMIN if user.is_superuser else user.role
    items = []
    for name, label, roles in MENU:
        if role in roles:
            try:
                items.append({"url": reverse(name), "label": label, "name": name})
            except NoReverseMatch:
                continue
    return items
