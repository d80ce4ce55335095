"""rows_update(by_id=True) on PostgreSQL: the UPDATE finds each row by its primary key instead of
hashing the rows and reading the whole table, and the session's join settings are as before."""

from __future__ import annotations

import pandas as pd
import pytest
from django.db import connection

from settlement.services.bulk_writes import rows_update

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TABLE_ROWS, UPDATED = 40_000, 4_000


@pytest.fixture
def table():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE wide_rows (id bigint PRIMARY KEY, v integer NOT NULL)")
        cursor.execute("INSERT INTO wide_rows SELECT g, 0 FROM generate_series(1, %s) g", [TABLE_ROWS])
        cursor.execute("ANALYZE wide_rows")
    yield "wide_rows"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE wide_rows")


def update_with_plan(table: str, by_id: bool) -> str:
    """Runs the update; returns the plan of its UPDATE, explained in the same session just before it."""
    plans = []

    def explain_first(execute, sql, params, many, context):
        if sql.startswith(f"UPDATE {table}"):
            context["cursor"].execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in context["cursor"].fetchall()))
        return execute(sql, params, many, context)

    ids = range(1, TABLE_ROWS + 1, TABLE_ROWS // UPDATED)
    frame = pd.DataFrame({"id": pd.Series(ids, dtype="int64"), "v": pd.Series([7] * len(ids), dtype="int64")})
    with connection.execute_wrapper(explain_first):
        sent = rows_update(
            table=table,
            columns=(("id", "bigint PRIMARY KEY"), ("v", "integer")),
            frame=frame,
            assignments="v = v.v",
            by_id=by_id,
        )
    assert sent == UPDATED
    [plan] = plans
    return plan


def settings() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
        return cursor.fetchone()


def test_by_id_probes_the_primary_key_where_the_planner_would_read_the_whole_table(table):
    # given a tenth of a table's rows to update: by default the planner reads the whole table
    assert "Seq Scan on wide_rows" in update_with_plan(table, by_id=False)
    # when they are updated by id
    plan = update_with_plan(table, by_id=True)
    # then each is found through the primary key, and the session's join settings are as they were
    assert "Nested Loop" in plan and "wide_rows_pkey" in plan and "Seq Scan on wide_rows" not in plan
    assert settings() == ("on", "on")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FILTER (WHERE v = 7), count(*) FILTER (WHERE v = 0) FROM wide_rows")
        assert cursor.fetchone() == (UPDATED, TABLE_ROWS - UPDATED)


def test_by_id_restores_join_settings_a_session_had_changed(table):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_mergejoin = off")
    update_with_plan(table, by_id=True)
    assert settings() == ("on", "off")
