"""What may this user see? One answer per model family, used by the API, pages and exports.

- enterprise user → documents where its enterprise is the party (seller/distributor, or
  the winning enterprise of an award);
- hospital user → its hospital's documents;
- bureau operator / approver / price analyst → hospitals (and so documents) in the
  bureau's region and below (INTERCHANGE.md "Region coverage");
- admin role or superuser → everything.

Each function takes the *path* to the relevant field in the queryset's model, so one
rule serves every model: ``scope_q(user, hospital="delivery_line__order_line__hospital")``.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from parties.identifiers import region_prefix
from parties.models import BUREAU_ROLES, Role, User

NOTHING = Q(pk__in=[])


def sees_everything(user: User) -> bool:
    return bool(user.is_superuser or user.role == Role.ADMIN)


def user_region_prefix(user: User) -> str | None:
    """Coverage prefix of a bureau/analyst user's region, else None."""
    if user.role in BUREAU_ROLES and user.bureau_id:
        return region_prefix(user.bureau.region_id)
    return None


def scope_q(
    user: User,
    *,
    hospital: str | None = None,
    enterprise: str | tuple[str, ...] | None = None,
    region: str | None = None,
) -> Q:
    """A filter for the rows ``user`` may see.

    ``hospital``: path to the hospital FK (for hospital users and, via its region, bureaus).
    ``enterprise``: path(s) to the enterprise FK(s) that make an enterprise a party.
    ``region``: path to a region FK, used for bureaus when there is no hospital
    (awards by supply region, reference prices): the row is visible when its region is
    inside the bureau's, or covers it (a province-wide award concerns a city bureau).
    """
    if not user.is_authenticated or not user.is_active:
        return NOTHING
    if sees_everything(user):
        return Q()
    if user.role == Role.HOSPITAL:
        return Q(**{hospital: user.hospital_id}) if hospital and user.hospital_id else NOTHING
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
        return Q(**{f"{hospital}__region_id__startswith": prefix})
    if region:
        # Inside the bureau's region, or a larger region that covers it.
        covering = [prefix[:n].ljust(6, "0") for n in range(2, len(prefix), 2)]
        return Q(**{f"{region}__code__startswith": prefix}) | Q(**{f"{region}__code__in": covering})
    return NOTHING


def scoped(qs: QuerySet, user: User, **paths) -> QuerySet:
    return qs.filter(scope_q(user, **paths))


# Per model family: the paths to the party fields. Selectors and views use these.
ORDER_LINE = {"hospital": "hospital", "enterprise": "distributor"}
DELIVERY_LINE = {"hospital": "order_line__hospital", "enterprise": "order_line__distributor"}
INVOICE_LINE = {"hospital": "hospital", "enterprise": "distributor"}
AGREEMENT = {"hospital": "hospital", "enterprise": ()}
AWARD = {"region": "supply_region", "enterprise": "enterprise"}
FUND_ALLOCATION = {"hospital": "hospital"}
PREPAYMENT = {"hospital": "hospital"}
REFERENCE_PRICE = {"region": "region"}
HOSPITAL = {"hospital": "code"}
