import pytest


def pytest_addoption(parser):
    parser.addoption("--run-e2e", action="store_true", help="run the browser tests (needs Chromium)")
    parser.addoption("--run-worker", action="store_true", help="run tests that need a real Celery worker and broker")


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    is_pg = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skips = {
        "postgres": (not is_pg, "PostgreSQL only: set DATABASE_URL=postgres://… (.ci/run does)"),
        "e2e": (not config.getoption("--run-e2e"), "browser test: pass --run-e2e (.ci/run does)"),
        "worker": (not config.getoption("--run-worker"), "needs a Celery worker: pass --run-worker (.ci/run does)"),
    }
    for item in items:
        for mark, (skip, reason) in skips.items():
            if skip and mark in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def on_postgres():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://…")
    return True
