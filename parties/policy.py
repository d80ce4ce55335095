"""Policy numbers of DOMAIN.md: ``settings.POLICY`` with per-region overrides.

``policy_value("PAYMENT_TERM_RULE", "371002")`` looks for an override at 371002, then
371000, then 370000, then falls back to the national default.
"""

from __future__ import annotations

from django.conf import settings

from parties.identifiers import region_parent_code


def policy_value(name: str, region_code: str | None = None):
    overrides = getattr(settings, "POLICY_REGION_OVERRIDES", {}) or {}
    code = region_code
    while code:
        region_policy = overrides.get(code)
        if region_policy and name in region_policy:
            return region_policy[name]
        code = region_parent_code(code)
    try:
        return settings.POLICY[name]
    except KeyError:
        raise KeyError(f"unknown policy setting {name!r}") from None


def regions_with_override(name: str) -> dict[str, object]:
    """region_code → value, for set-based code that must vary a rule by region."""
    overrides = getattr(settings, "POLICY_REGION_OVERRIDES", {}) or {}
    return {code: p[name] for code, p in overrides.items() if name in p}
