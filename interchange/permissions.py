"""Who may import which table (the API checks this; the service checks it again).

Admins and superusers may import every table; bureau operators every table for their
region; a hospital user only ``receipts`` (its own deliveries); an enterprise user that
distributes only ``invoices`` (as the seller). Rows outside the user's scope are then
refused row by row (interchange.loaders.refs.Scope).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from parties.models import Role
from parties.scoping import sees_everything

MSG_FORBIDDEN = _("您无权导入该表 / you may not import this table")
CODE_FORBIDDEN = "permission_denied"


class ImportForbidden(Exception):  # noqa: N818 - reads as the refusal it is
    """The user may not import this table at all."""


def import_allowed(user, handler) -> bool:
    """``user`` None means the console (manage.py without --user): everything."""
    if user is None:
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    if sees_everything(user):
        return True
    if user.role not in handler.roles:
        return False
    if user.role == Role.ENTERPRISE:
        enterprise = user.enterprise
        return enterprise is not None and enterprise.is_distributor
    if user.role == Role.HOSPITAL:
        return user.hospital_id is not None
    if user.role == Role.BUREAU_OPERATOR:
        return user.bureau_id is not None
    return True
