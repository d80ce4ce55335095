"""``manage.py bench --workers 2``: reconcile, alerts and prices as partitioned Celery tasks on
two real worker processes give exactly what the eager run writes (same digests), and the
README table says so."""

from __future__ import annotations

import json
import os

import pytest
from django.core.management import call_command
from django.test import override_settings

from benchmarks.pipeline import DIGEST_STAGES
from benchmarks.report import table_for

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_stages_on_two_workers_write_what_the_eager_run_writes(tmp_path):
    # given: a broker and the S data set, run once eagerly
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        pytest.fail("worker tests need CELERY_BROKER_URL (.ci/run sets it)")
    data = str(tmp_path / "data")
    common = {"scale": "S", "seed": 1, "data_dir": data, "no_readme": True}
    call_command("bench", out_dir=str(tmp_path / "eager"), **common)

    # when: the same pipeline runs with the partitioned stages on two real workers, reconcile
    # in one pass per region (the eager run's passes hold several regions each: S is small)
    with override_settings(RECONCILE_PASS_LINES=1):
        call_command("bench", out_dir=str(tmp_path / "workers"), workers=2, broker=broker, **common)

    # then: every stage ok, and each partitioned stage wrote exactly what the eager one did
    (eager_path,) = (tmp_path / "eager").glob("*-S.json")
    (workers_path,) = (tmp_path / "workers").glob("*-S-workers2.json")
    eager, workers = json.loads(eager_path.read_text()), json.loads(workers_path.read_text())
    assert workers["workers"] == 2 and eager["workers"] == 0
    by_stage = {s["stage"]: s for s in workers["stages"]}
    eager_by_stage = {s["stage"]: s for s in eager["stages"]}
    for stage in workers["stages"]:
        assert stage["status"] == "ok", (stage["stage"], stage["error"])
    for name in DIGEST_STAGES:
        mine, theirs = by_stage[name]["detail"]["digests"], eager_by_stage[name]["detail"]["digests"]
        assert mine == theirs, name
        assert any(d["rows"] > 0 for d in mine.values()), name  # something was compared
    assert len(by_stage["reconcile"]["detail"]["passes"]) >= 2  # really fanned out
    assert len(by_stage["reconcile"]["detail"]["passes"]) > len(eager_by_stage["reconcile"]["detail"]["passes"])
    assert by_stage["reconcile"]["rows"] == eager_by_stage["reconcile"]["rows"]
    text = table_for(workers, eager=eager)
    assert "2 Celery workers" in text
    assert text.count("**identical**") == len(DIGEST_STAGES) and "DIFFERENT" not in text
