"""DRF permission by role: ``permission_classes = [IsAuthenticated, role_permission(Role.HOSPITAL)]``.

Superusers pass every role check (INTERFACES.md: a superuser may act in every role).
A refusal is a 403 in the error shape, recorded as a security event by the handler.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from parties.web.access import has_role

MSG_ROLE_FORBIDDEN = "您的角色无权执行此操作 / your role may not do this"


def role_permission(*roles: str) -> type[BasePermission]:
    class HasRole(BasePermission):
        message = MSG_ROLE_FORBIDDEN
        code = "role_forbidden"

        def has_permission(self, request, view):
            return has_role(request.user, roles)

    HasRole.__name__ = "HasRole_" + "_".join(str(r) for r in roles)
    return HasRole
