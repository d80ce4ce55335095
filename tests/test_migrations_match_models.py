"""The migrations build exactly the schema the models describe (PostgreSQL).

``makemigrations --check`` only says the migration *state* matches the models; the SQL a
migration runs can still differ (an AlterField(db_index=False) once dropped a partial
unique index on the same column). Here the test database, built by the migrations, is
compared index by index and constraint by constraint with a schema created straight from
the models."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from benchmarks.schema import schema_create
from settlement.models.ledger import install_immutability_triggers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SCRATCH = "models_only"
HASHED = re.compile(r'"?[a-z0-9_]+_[0-9a-f]{8}(_like)?"?(?= ON )')
OURS = ("parties_", "procurement_", "settlement_", "price_monitor_", "interchange_")


def _indexes(schema: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = %s", [schema])
        rows = cur.fetchall()
    return sorted(
        f"{table} {HASHED.sub('X', d.replace(f'{schema}.', ''))}" for table, d in rows if table.startswith(OURS)
    )


def _constraints(schema: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            """SELECT c.relname, k.contype::text, pg_get_constraintdef(k.oid)
               FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
               WHERE k.connamespace = %s::regnamespace""",
            [schema],
        )
        rows = cur.fetchall()
    return sorted(f"{t} {kind} {d.replace(f'{schema}.', '')}" for t, kind, d in rows if t.startswith(OURS))


def test_migrated_schema_equals_the_models_schema():
    # given: the migrated test database (public) and the models' tables in a scratch schema
    with connection.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {SCRATCH}")
        cur.execute(f"SET LOCAL search_path TO {SCRATCH}")
    created = schema_create()
    assert install_immutability_triggers(connection)  # what every migrate adds (post_migrate)
    with connection.cursor() as cur:
        cur.execute("SET LOCAL search_path TO public")

    # then: the same tables, indexes and constraints (the test's transaction drops it all)
    assert "settlement_batchline" in created
    migrated, modelled = _indexes("public"), _indexes(SCRATCH)
    assert len(modelled) > 100
    assert migrated == modelled
    assert _constraints("public") == _constraints(SCRATCH)
