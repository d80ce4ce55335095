"""Due dates (DOMAIN.md "Due dates and alerts"), written once for every caller.

due_date = acceptance date + ``PAYMENT_TERM_DAYS`` (rule ``days``), or the last day of
the month after acceptance (rule ``end_of_next_month``, 次月底), per region through
``parties.policy`` (``PAYMENT_TERM_RULE`` / ``PAYMENT_TERM_DAYS`` may be overridden for a
region and everything below it).

Three shapes of the same rule:

- ``due_date_for(accepted_date, region_code)``: one date;
- ``due_dates_series(accepted, region_codes)``: pandas, vectorised per distinct region;
- ``due_date_expression("delivery_line__accepted_date", "hospital__region_id")``: a SQL
  expression (PostgreSQL and SQLite) for set-based queries and INSERT … SELECT.
"""

from __future__ import annotations

import calendar
import datetime as dt

import pandas as pd
from django.db.models import Case, DateField, F, Func, Q, When

from parties.identifiers import region_prefix
from parties.policy import policy_value, regions_with_override

RULE_DAYS = "days"
RULE_END_OF_NEXT_MONTH = "end_of_next_month"
RULES = (RULE_DAYS, RULE_END_OF_NEXT_MONTH)


def term_for_region(region_code: str | None) -> tuple[str, int]:
    """(rule, days) in force for a hospital of ``region_code``."""
    rule = policy_value("PAYMENT_TERM_RULE", region_code)
    if rule not in RULES:
        raise ValueError(f"unknown PAYMENT_TERM_RULE {rule!r}")
    return rule, int(policy_value("PAYMENT_TERM_DAYS", region_code))


def end_of_next_month(day: dt.date) -> dt.date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def due_date_for(accepted_date: dt.date | None, region_code: str | None) -> dt.date | None:
    """The due date of a line accepted on ``accepted_date`` by a hospital of ``region_code``."""
    if accepted_date is None:
        return None
    rule, days = term_for_region(region_code)
    if rule == RULE_END_OF_NEXT_MONTH:
        return end_of_next_month(accepted_date)
    return accepted_date + dt.timedelta(days=days)


def due_dates_series(accepted: pd.Series, region_codes: pd.Series) -> pd.Series:
    """Vectorised ``due_date_for``: ``accepted`` dates (datetime64 or date objects),
    ``region_codes`` the hospitals' region codes; returns datetime64[ns] (NaT where
    ``accepted`` is missing). One policy look-up per distinct region, not per row."""
    acc = pd.to_datetime(accepted)
    out = pd.Series(pd.NaT, index=acc.index, dtype="datetime64[ns]")
    codes = region_codes.astype("object")
    for code in pd.unique(codes):
        mask = (codes == code).to_numpy()
        rule, days = term_for_region(code)
        part = acc[mask]
        if rule == RULE_END_OF_NEXT_MONTH:
            out.loc[mask] = (part + pd.offsets.MonthEnd(0) + pd.offsets.MonthEnd(1)).astype("datetime64[ns]")
        else:
            out.loc[mask] = (part + pd.Timedelta(days=days)).astype("datetime64[ns]")
    return out


class _AddDays(Func):
    output_field = DateField()

    def __init__(self, expression, days: int):
        super().__init__(expression)
        self.days = int(days)

    def as_sql(self, compiler, connection, **extra):
        inner, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "sqlite":
            return f"date({inner}, '+{self.days} days')", params
        if connection.vendor == "postgresql":
            return f"(({inner})::date + {self.days})", params
        raise NotImplementedError(connection.vendor)


class _EndOfNextMonth(Func):
    output_field = DateField()

    def as_sql(self, compiler, connection, **extra):
        inner, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "sqlite":
            return f"date({inner}, 'start of month', '+2 months', '-1 day')", params
        if connection.vendor == "postgresql":
            return f"((date_trunc('month', ({inner})::date) + interval '2 months' - interval '1 day')::date)", params
        raise NotImplementedError(connection.vendor)


def _rule_expression(accepted: str, rule: str, days: int):
    if rule == RULE_END_OF_NEXT_MONTH:
        return _EndOfNextMonth(F(accepted))
    return _AddDays(F(accepted), days)


def due_date_expression(accepted: str, region_code: str):
    """A SQL expression for the due date, given the paths to the acceptance date and to
    the hospital's region code. Regions with an override come first, most specific
    (longest coverage prefix) first; everything else gets the national default."""
    overridden = set(regions_with_override("PAYMENT_TERM_RULE")) | set(regions_with_override("PAYMENT_TERM_DAYS"))
    default = _rule_expression(accepted, *term_for_region(None))
    if not overridden:
        return default
    whens = []
    for code in sorted(overridden, key=lambda c: (-len(region_prefix(c)), c)):
        rule, days = term_for_region(code)
        whens.append(
            When(Q(**{f"{region_code}__startswith": region_prefix(code)}), then=_rule_expression(accepted, rule, days))
        )
    return Case(*whens, default=default, output_field=DateField())


__all__ = [
    "RULE_DAYS",
    "RULE_END_OF_NEXT_MONTH",
    "due_date_expression",
    "due_date_for",
    "due_dates_series",
    "end_of_next_month",
    "term_for_region",
]
