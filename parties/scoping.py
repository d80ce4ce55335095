"""What may this user see? One answer per model family, used by the API, pages and exports.

- enterprise user → documents where its enterprise is the party (seller/distributor, or
  the winning enterprise of an award);
- hospital user → its hospital's documents (and the awards whose supply region covers
  its hospital, for families that opt in with ``covers_hospital``);
- bureau operator / approver / price analyst → hospitals (and so documents) in the
  bureau's region and below (INTERCHANGE.md "Region coverage");
- admin role or superuser → everything;
- anonymous or inactive users, and users whose organisation is missing → nothing.

Each function takes the *path* to the relevant field in the queryset's model, so one
rule serves every model: ``scope_q(user, hospital="delivery_line__order_line__hospital")``.
The per-family dicts at the bottom hold those paths; use them as ``scoped(qs, user, **ORDER_LINE)``.

Master data (regions, enterprises, hospitals, products, rounds) is published reference
data that every signed-in user may read; only enterprise bank details are restricted
(``may_see_bank_details``).
"""

from __future__ import annotations

from django.db.models import Model, Q, QuerySet
from django.http import Http404

from parties.identifiers import region_prefix
from parties.models import BUREAU_ROLES, Role, User

NOTHING = Q(pk__in=[])

MSG_NOT_FOUND = "未找到 / not found"


def sees_everything(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_superuser or user.role == Role.ADMIN))


def user_region_prefix(user: User) -> str | None:
    """Coverage prefix of a bureau/analyst user's region, else None."""
    if user.role in BUREAU_ROLES and user.bureau_id:
        return region_prefix(user.bureau.region_id)
    return None


def covering_region_codes(region_code: str, *, include_self: bool) -> list[str]:
    """The canonical codes of the regions that cover ``region_code`` (province, city[, itself])."""
    prefix = region_prefix(region_code)
    stop = len(prefix) + (2 if include_self else 0)
    return [prefix[:n].ljust(6, "0") for n in range(2, stop, 2) if n <= len(prefix)]


def scope_q(
    user: User,
    *,
    hospital: str | None = None,
    enterprise: str | tuple[str, ...] | None = None,
    region: str | None = None,
    hospital_region: str | None = None,
    covers_hospital: str | None = None,
) -> Q:
    """A filter for the rows ``user`` may see.

    ``hospital``: path to the hospital FK (for hospital users and, via its region, bureaus).
    ``hospital_region``: path to that hospital's region FK; defaults to ``<hospital>__region``
    (give it when the model *is* the hospital: ``hospital="code", hospital_region="region"``).
    ``enterprise``: path(s) to the enterprise FK(s) that make an enterprise a party.
    ``region``: path to a region FK, used for bureaus when there is no hospital
    (awards by supply region, reference prices): the row is visible when its region is
    inside the bureau's, or covers it (a province-wide award concerns a city bureau).
    ``covers_hospital``: path to a region FK; a hospital user sees the row when that
    region covers its hospital's region (the awards that apply to the hospital).
    """
    if not user.is_authenticated or not user.is_active:
        return NOTHING
    if sees_everything(user):
        return Q()
    if user.role == Role.HOSPITAL:
        if not user.hospital_id:
            return NOTHING
        if hospital:
            return Q(**{hospital: user.hospital_id})
        if covers_hospital:
            codes = covering_region_codes(user.hospital.region_id, include_self=True)
            return Q(**{f"{covers_hospital}__in": codes})
        return NOTHING
    if user.role == Role.ENTERPRISE:
        if not enterprise or not user.enterprise_id:
            return NOTHING
        paths = (enterprise,) if isinstance(enterprise, str) else enterprise
        q = NOTHING
        for p in paths:
            q |= Q(**{p: user.enterprise_id})
        return q
    prefix = user_region_prefix(user)
    if prefix is None:
        return NOTHING
    if hospital:
        region_path = hospital_region or f"{hospital}__region"
        return Q(**{f"{region_path}__code__startswith": prefix})
    if region:
        # Inside the bureau's region, or a larger region that covers it.
        covering = covering_region_codes(user.bureau.region_id, include_self=False)
        return Q(**{f"{region}__code__startswith": prefix}) | Q(**{f"{region}__in": covering})
    return NOTHING


def scoped(qs: QuerySet, user: User, **paths) -> QuerySet:
    return qs.filter(scope_q(user, **paths))


def scoped_get_or_404(qs: QuerySet, user: User, paths: dict | None, *, request=None, **lookup) -> Model:
    """The one row of ``qs`` matching ``lookup`` that ``user`` may see, else Http404.

    ``paths`` None means the rows are visible to every signed-in user (master data).
    When the row exists but belongs to another party the answer is the same 404 (never
    403: existence is not disclosed), and the refusal is recorded as a security event.
    """
    visible = qs if paths is None else scoped(qs, user, **paths)
    try:
        return visible.get(**lookup)
    except qs.model.DoesNotExist:
        if paths is not None and qs.filter(**lookup).exists():
            from parties.services.security import KIND_NOT_FOUND_SCOPE, security_event_record

            security_event_record(
                kind=KIND_NOT_FOUND_SCOPE,
                user=user,
                request=request,
                detail=f"{qs.model._meta.label}: {lookup}",
            )
        raise Http404(MSG_NOT_FOUND) from None


def may_see_bank_details(user: User, enterprise_id: str) -> bool:
    """Bank details of an enterprise: the enterprise itself, bureau staff, admins."""
    if not user.is_authenticated or not user.is_active:
        return False
    if sees_everything(user) or user.role in BUREAU_ROLES:
        return True
    return user.role == Role.ENTERPRISE and user.enterprise_id == enterprise_id


# Per model family: the paths to the party fields. Selectors and views use these.
ORDER_LINE = {"hospital": "hospital", "enterprise": "distributor"}
DELIVERY_LINE = {"hospital": "order_line__hospital", "enterprise": "order_line__distributor"}
INVOICE_LINE = {"hospital": "hospital", "enterprise": "distributor"}
# A batch line's parties are its invoice line's (copied onto it for set-based funding). The
# batch-line table has no index by party (each costs seconds per province batch written):
# a party's batch lines are found through the invoice line's party indexes, a bureau's by
# the batch (BRIN) and the line's own hospital.
BATCH_LINE = {
    "hospital": "invoice_line__hospital",
    "hospital_region": "hospital__region",
    "enterprise": "invoice_line__distributor",
}
AGREEMENT = {"hospital": "hospital", "enterprise": ()}
AWARD = {"region": "supply_region", "enterprise": "enterprise", "covers_hospital": "supply_region"}
FUND_ALLOCATION = {"hospital": "hospital"}
PREPAYMENT = {"hospital": "hospital"}
REFERENCE_PRICE = {"region": "region"}
HOSPITAL = {"hospital": "code", "hospital_region": "region"}
STATEMENT = {"hospital": "hospital", "enterprise": "distributor"}
