"""Create every table straight from the models, for a fresh benchmark database.

Used by ``manage.py bench --syncdb`` only while the migration files lag behind the models
(``makemigrations --check`` fails while others are mid-change); no migration file is
read or written. Tables that already exist are left alone.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection


def schema_create() -> list[str]:
    """Create the missing tables (models in dependency-free order, FKs added deferred by
    the schema editor). Returns the names of the tables created."""
    existing = set(connection.introspection.table_names())
    created = []
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            meta = model._meta
            if not meta.managed or meta.proxy or meta.db_table in existing:
                continue
            editor.create_model(model)  # also creates its auto-created M2M tables
            existing.add(meta.db_table)
            created.append(meta.db_table)
            for field in meta.local_many_to_many:
                existing.add(field.remote_field.through._meta.db_table)
    return created
