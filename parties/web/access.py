"""Access checks for pages: by role, and the scoped look-up that answers 404.

``@role_required(Role.HOSPITAL)`` → signed in and of that role (superusers pass), else 403
(recorded by parties.middleware). ``scoped_object_or_404`` → the row if the user's
organisation may see it, else 404 (recorded as a security event when the row exists).
"""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from parties.scoping import scoped_get_or_404
from parties.web.navigation import effective_role

MSG_ROLE_FORBIDDEN = "您的角色无权访问此页面 / your role may not open this page"


def has_role(user, roles) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or effective_role(user) in roles))


def role_required(*roles):
    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not has_role(request.user, roles):
                raise PermissionDenied(MSG_ROLE_FORBIDDEN)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def scoped_object_or_404(request, qs, paths: dict | None, **lookup):
    return scoped_get_or_404(qs, request.user, paths, request=request, **lookup)
