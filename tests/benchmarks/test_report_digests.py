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
