"""Which region a price page or API call is about: the one asked for, if the user may see it.

An analyst sees their bureau's region and every region inside it; an admin every region.
Asking for another region answers 404 (recorded as a security event), as for any record
of another party.
"""

from __future__ import annotations

from django.http import Http404

from parties.identifiers import REGION_CODE_RE
from parties.models import Region
from parties.scoping import MSG_NOT_FOUND, sees_everything, user_region_prefix


def user_default_region(user) -> Region | None:
    if getattr(user, "bureau_id", None) and user_region_prefix(user) is not None:
        return user.bureau.region
    if sees_everything(user):
        return Region.objects.filter(code__endswith="0000").order_by("code").first()
    return None


def region_visible(user, code: str) -> bool:
    if sees_everything(user):
        return True
    prefix = user_region_prefix(user)
    return prefix is not None and code.startswith(prefix)


def region_or_404(user, code: str | None, *, request=None) -> Region:
    """The region ``code`` (default: the user's own) when the user may see it, else Http404."""
    if not code:
        region = user_default_region(user)
        if region is None:
            raise Http404(MSG_NOT_FOUND)
        return region
    region = Region.objects.filter(code=code).first() if REGION_CODE_RE.match(code) else None
    if region is None:
        raise Http404(MSG_NOT_FOUND)
    if not region_visible(user, code):
        from parties.services.security import KIND_NOT_FOUND_SCOPE, security_event_record

        security_event_record(kind=KIND_NOT_FOUND_SCOPE, user=user, request=request, detail=f"region {code}")
        raise Http404(MSG_NOT_FOUND)
    return region
