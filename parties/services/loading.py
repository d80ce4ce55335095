"""Bulk writes of parties' master data from imports (interchange calls these).

Input frames carry the interchange columns (INTERCHANGE.md) in canonical form
(interchange.parsing). Every created or changed row is audited (AuditEntry, one bulk
insert): ``changes`` maps model fields to ``[old, new]`` as text.
"""

from __future__ import annotations

import pandas as pd
from django.db import transaction

from interchange.bulk import bulk_create_frame, bulk_update_frame
from parties.identifiers import region_prefix
from parties.models import AuditEntry, Enterprise, Hospital, Region, User


def _user_or_none(user: User | None) -> User | None:
    return user if user is not None and getattr(user, "pk", None) and user.is_authenticated else None


@transaction.atomic
def audit_entries_create(
    *,
    model: str,
    created: list[tuple[str, dict]],
    updated: list[tuple[str, dict]],
    source: str,
    user: User | None,
) -> int:
    """One AuditEntry per (object_key, changes); ``model`` is the model label (``parties.Region``)."""
    who = _user_or_none(user)
    rows = [
        AuditEntry(user=who, source=source, model=model, object_key=key, action=action, changes=changes)
        for action, items in ((AuditEntry.Action.CREATE, created), (AuditEntry.Action.UPDATE, updated))
        for key, changes in items
    ]
    AuditEntry.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def created_changes(frame: pd.DataFrame, fields: dict[str, str], key: str | list[str]) -> list[tuple[str, dict]]:
    """Audit items for new rows: every field ``[None, new]``; ``fields`` maps column → model field."""
    if frame.empty:
        return []
    cols = list(fields)
    keys = frame[key].astype(str) if isinstance(key, str) else frame[key].astype(str).agg("/".join, axis=1)
    text = {c: _as_text(frame[c]) for c in cols}
    return [(k, {fields[c]: [None, text[c].iloc[i]] for c in cols}) for i, k in enumerate(keys)]


def updated_changes(changes: list[dict], fields: dict[str, str]) -> list[tuple[str, dict]]:
    """Audit items for changed rows from the importer's ``{"key", "changes": {column: [old, new]}}``."""
    return [(c["key"], {fields.get(col, col): v for col, v in c["changes"].items()}) for c in changes]


def _upsert(
    model,
    *,
    create: pd.DataFrame,
    update: pd.DataFrame,
    changes: list[dict],
    source: str,
    user: User | None,
    rows_of,
    update_fields: list[str],
    fields: dict[str, str],
    key: str,
) -> tuple[int, int]:
    """Bulk-create ``rows_of(create)``, bulk-update ``rows_of(update)`` (``update_fields``) and
    audit both (``fields`` maps column → model field, ``key`` names the new rows)."""
    for frame, write in ((create, "create"), (update, "update")):
        if frame.empty:
            continue
        rows = rows_of(frame)
        if write == "create":
            bulk_create_frame(model, rows)
        else:
            bulk_update_frame(model, rows, update_fields)
    audit_entries_create(
        model=model._meta.label,
        created=created_changes(create, fields, key),
        updated=updated_changes(changes, fields),
        source=source,
        user=user,
    )
    return len(create), len(update)


def _as_text(s: pd.Series) -> pd.Series:
    from interchange.loaders.base import display

    if isinstance(s.dtype, pd.Int64Dtype):
        return display(s, "int")
    return s.astype(object)


REGION_FIELDS = {"name": "name", "parent_code": "parent"}


@transaction.atomic
def regions_upsert(
    *, create: pd.DataFrame, update: pd.DataFrame, changes: list[dict], source: str, user: User | None
) -> tuple[int, int]:
    """Create and update regions; ``prefix`` is set here because bulk_create skips ``save()``."""
    if not create.empty:
        rows = pd.DataFrame(
            {
                "code": create["region_code"],
                "name": create["name"],
                "parent_id": create["parent_code"].where(create["parent_code"] != "", None),
                "prefix": create["region_code"].map(region_prefix),
            }
        )
        rows = rows.assign(_len=rows["prefix"].str.len()).sort_values("_len", kind="stable").drop(columns="_len")
        bulk_create_frame(Region, rows)
    if not update.empty:
        rows = pd.DataFrame(
            {
                "code": update["region_code"],
                "name": update["name"],
                "parent_id": update["parent_code"].where(update["parent_code"] != "", None),
            }
        )
        bulk_update_frame(Region, rows, ["name", "parent"])
    audit_entries_create(
        model=Region._meta.label,
        created=created_changes(create, REGION_FIELDS, "region_code"),
        updated=updated_changes(changes, REGION_FIELDS),
        source=source,
        user=user,
    )
    return len(create), len(update)


ENTERPRISE_FIELDS = {"name": "name", "role": "role", "bank_name": "bank_name", "bank_account": "bank_account"}


@transaction.atomic
def enterprises_upsert(
    *, create: pd.DataFrame, update: pd.DataFrame, changes: list[dict], source: str, user: User | None
) -> tuple[int, int]:
    return _upsert(
        Enterprise,
        create=create,
        update=update,
        changes=changes,
        source=source,
        user=user,
        rows_of=lambda frame: pd.DataFrame(
            {"credit_code": frame["credit_code"], **{f: frame[c] for c, f in ENTERPRISE_FIELDS.items()}}
        ),
        update_fields=list(ENTERPRISE_FIELDS.values()),
        fields=ENTERPRISE_FIELDS,
        key="credit_code",
    )


HOSPITAL_FIELDS = {"name": "name", "region_code": "region", "level": "level", "ownership": "ownership"}


@transaction.atomic
def hospitals_upsert(
    *, create: pd.DataFrame, update: pd.DataFrame, changes: list[dict], source: str, user: User | None
) -> tuple[int, int]:
    return _upsert(
        Hospital,
        create=create,
        update=update,
        changes=changes,
        source=source,
        user=user,
        rows_of=lambda frame: pd.DataFrame(
            {
                "code": frame["hospital_code"],
                "name": frame["name"],
                "region_id": frame["region_code"],
                "level": frame["level"],
                "ownership": frame["ownership"],
            }
        ),
        update_fields=["name", "region", "level", "ownership"],
        fields=HOSPITAL_FIELDS,
        key="hospital_code",
    )
