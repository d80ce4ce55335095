"""``manage.py bench`` on the tiny S data set: every stage runs, counts rows and has a
floor beside it. Speed is not judged here (benchmarks/README.md is where numbers live)."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from benchmarks.pipeline import MSG_NOT_POSTGRES, STAGES


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_runs_every_stage_with_rows_and_a_floor(tmp_path):
    # given: an empty PostgreSQL test database and a scratch directory
    out = tmp_path / "results"

    # when: the whole pipeline runs on scale S
    call_command("bench", scale="S", seed=1, out_dir=str(out), data_dir=str(tmp_path / "data"), no_readme=True)

    # then: one JSON, every stage ok, with rows, a positive time and a floor
    (path,) = out.glob("*-S.json")
    doc = json.loads(path.read_text())
    assert [s["stage"] for s in doc["stages"]] == list(STAGES)
    for stage in doc["stages"]:
        assert stage["status"] == "ok", (stage["stage"], stage["error"])
        assert stage["rows"] > 0, stage["stage"]
        assert stage["seconds"] > 0, stage["stage"]
        assert stage["floor_seconds"] is not None and stage["floor_seconds"] > 0, stage["stage"]
        assert stage["floor_rows"] > 0, stage["stage"]
        assert stage["ratio"] > 0, stage["stage"]
        assert stage["peak_rss_mb"] >= stage["start_rss_mb"] > 0
    by_stage = {s["stage"]: s for s in doc["stages"]}
    assert by_stage["import"]["rows"] == by_stage["import"]["floor_rows"]  # the floor copied the same rows
    assert by_stage["batch"]["detail"]["batch"]
    assert doc["machine"]["nproc"] >= 1 and doc["machine"]["postgresql"]
    assert doc["commit"]


def test_bench_refuses_sqlite():
    # given: the suite runs on SQLite (the refusal comes before any query)
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the refusal of SQLite is checked when the suite runs on SQLite")
    # when / then: a clear message, nothing run
    with pytest.raises(CommandError) as caught:
        call_command("bench", scale="S")
    assert str(caught.value) == MSG_NOT_POSTGRES


def test_report_flags_a_worker_run_that_differs_from_the_eager_run():
    # given: an eager run and a run on workers whose reconcile digest differs
    from benchmarks.report import table_for

    def doc(workers: int, md5: str) -> dict:
        stage = {
            "stage": "reconcile", "status": "ok", "rows": 10, "seconds": 1.0, "rows_per_s": 10.0,
            "peak_rss_mb": 100.0, "floor_seconds": 0.5, "ratio": 2.0,
            "detail": {"digests": {"invoice_lines": {"rows": 10, "md5": md5}}},
        }
        return {
            "scale": "M", "seed": 1, "date": "2026-11-27", "commit": "abc", "workers": workers,
            "process_maxrss_mb": 1.0, "stages": [stage],
            "machine": {"nproc": 2, "memory_gb": 1, "postgresql": "15", "loadavg_start": [0.1]},
        }

    # when / then: the table says DIFFERENT, and identical when the digests agree
    assert "**DIFFERENT**" in table_for(doc(2, "aaa"), eager=doc(0, "bbb"))
    assert "**identical**" in table_for(doc(2, "aaa"), eager=doc(0, "aaa"))
    assert "compare" in table_for(doc(2, "aaa"), eager=None)


@pytest.mark.django_db
def test_bench_refuses_a_database_migrated_by_newer_code(on_postgres):
    from django.core.management import CommandError, call_command
    from django.db import connection
    from django.utils import timezone

    from settlement.management.commands.bench import migrations_unknown_here

    assert migrations_unknown_here() == []
    with connection.cursor() as cursor:  # what a later commit's migrate leaves behind
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('settlement', '9999_from_a_later_commit', %s)",
            [timezone.now()],
        )
    assert migrations_unknown_here() == ["settlement.9999_from_a_later_commit"]
    with pytest.raises(CommandError, match="9999_from_a_later_commit"):
        call_command("bench", "--scale", "M", "--stages", "generate")
