"""Production settings pass Django's deployment checks and refuse to start without a secret."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_check(extra_env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **extra_env})
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_with_production_settings():
    result = run_check({"DJANGO_SECRET_KEY": secrets.token_urlsafe(60), "DJANGO_ALLOWED_HOSTS": "jicai.example.cn"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_a_missing_secret_key():
    result = run_check({"DJANGO_ALLOWED_HOSTS": "jicai.example.cn"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


WEB_PLANNER = """
import config.wsgi  # noqa: F401 - the web entry point, as gunicorn loads it
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SHOW max_parallel_workers_per_gather")
    print(cursor.fetchone()[0])
"""


def web_setting(extra_env: dict) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "PGOPTIONS"}
    env.update({"DJANGO_SECRET_KEY": secrets.token_urlsafe(60), "DJANGO_ALLOWED_HOSTS": "127.0.0.1", **extra_env})
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", WEB_PLANNER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_web_process_plans_without_parallel_workers_unless_the_deployment_says(on_postgres):
    from django.db import connection

    s = connection.settings_dict  # the same server; its always-present database (a SHOW needs no table)
    url = {
        "DATABASE_URL": f"postgres://{s.get('USER') or 'postgres'}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/postgres"
    }
    assert web_setting(url) == "0"
    assert web_setting({**url, "PGOPTIONS": "-c max_parallel_workers_per_gather=1"}) == "1"
