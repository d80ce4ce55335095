"""The README's comparison of a worker run with the eager run names the commit each
eager stage was measured at."""

from __future__ import annotations

from benchmarks.report import digest_comparison


def _stage(name: str, digest: str, carried_from: str | None = None) -> dict:
    detail = {"digests": {"invoice_lines": {"rows": 3, "md5": digest}}}
    if carried_from:
        detail["carried_over"] = {"from_commit": carried_from, "started_at": "2026-11-28T03:01:43+00:00"}
    return {"stage": name, "detail": detail}


def test_a_stage_kept_from_an_earlier_run_is_compared_at_that_runs_commit():
    # given an eager file whose reconcile stage was kept from an earlier run of the day
    eager = {
        "date": "2026-11-28",
        "commit": "bbbbbbb",
        "stages": [_stage("reconcile", "x", carried_from="aaaaaaa"), _stage("alerts", "y")],
    }
    workers = {"workers": 2, "stages": [_stage("reconcile", "x"), _stage("alerts", "z")]}
    lines = digest_comparison(workers, eager)
    reconcile = next(line for line in lines if line.startswith("- reconcile"))
    alerts = next(line for line in lines if line.startswith("- alerts"))
    # then each stage names the commit it was measured at, and a different digest says so
    assert "**identical**" in reconcile and "(commit aaaaaaa)" in reconcile
    assert "**DIFFERENT**" in alerts and "(commit bbbbbbb)" in alerts


def _run(started_at: str, commit: str) -> dict:
    return {
        "scale": "L",
        "seed": 1,
        "date": started_at[:10],
        "started_at": started_at,
        "commit": commit,
        "workers": 0,
        "process_maxrss_mb": 1.0,
        "machine": {"nproc": 2, "memory_gb": 23.5, "postgresql": "15", "loadavg_start": [1.0], "loadavg_end": [1.0]},
        "stages": [],
    }


def test_the_readme_shows_the_run_that_started_last_whatever_its_file_is_called(tmp_path):
    # given two runs of one day, the later one kept under a name that sorts first
    import json

    from benchmarks.report import pipeline_block

    (tmp_path / "2026-11-28-L.json").write_text(json.dumps(_run("2026-11-28T03:00:00+00:00", "aaaaaaa")))
    (tmp_path / "2026-11-28-L-a.json").write_text(json.dumps(_run("2026-11-28T07:00:00+00:00", "bbbbbbb")))
    # when the README block is built, then it shows the later run only
    block = pipeline_block(tmp_path)
    assert "commit bbbbbbb" in block and "commit aaaaaaa" not in block


def test_a_run_records_the_commit_it_started_at_and_says_when_the_tree_differs(monkeypatch):
    # given git answering a HEAD and a status (clean, then with a changed tracked file)
    from benchmarks import pipeline

    answers = {"rev-parse": "ce2c8a1", "status": ""}
    monkeypatch.setattr(pipeline, "_git", lambda *args: answers[args[0]])
    assert pipeline.git_commit() == "ce2c8a1"
    answers["status"] = " M settlement/models/batches.py"
    assert pipeline.git_commit() == "ce2c8a1+dirty"
