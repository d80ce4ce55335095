"""Audit of master data: who changed what, field by field (parties.models.AuditEntry).

``audit_entry_record`` is the one writer; ``audit_changes`` computes the ``{field: [old, new]}``
map of two versions of an instance. The admin mixin (parties.admin.AuditedModelAdmin) and the
importers use both.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from parties.models import AuditEntry, User

SOURCE_ADMIN = "admin"
MASKED = "***"
# Fields never copied into the audit log: secrets, and bookkeeping that changes on its own.
MASKED_FIELDS = frozenset({"password"})
SKIPPED_FIELDS = frozenset({"last_login"})


def _jsonable(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _field_values(instance: models.Model) -> dict:
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in SKIPPED_FIELDS:
            continue
        values[field.name] = field.value_from_object(instance)
    return values


def audit_changes(old: models.Model | None, new: models.Model | None) -> dict[str, list]:
    """``{field: [old, new]}`` for the concrete fields that differ (None for a missing side)."""
    before = _field_values(old) if old is not None else {}
    after = _field_values(new) if new is not None else {}
    changes = {}
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        if name in MASKED_FIELDS:
            changes[name] = [MASKED if a else None, MASKED if b else None]
        else:
            changes[name] = [_jsonable(a), _jsonable(b)]
    return changes


@transaction.atomic
def audit_entry_record(
    *,
    user: User | None,
    instance: models.Model,
    action: str,
    changes: dict,
    source: str = SOURCE_ADMIN,
) -> AuditEntry:
    """One row: ``action`` is AuditEntry.Action; ``instance`` gives model label and key."""
    return AuditEntry.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        source=source,
        model=instance._meta.label,
        object_key=str(instance.pk),
        action=action,
        changes=changes,
    )
