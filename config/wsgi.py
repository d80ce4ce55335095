import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
# Web requests are planned without parallel workers. A parallel plan shortens one request on an
# idle server but spends two to three times its CPU, and under many users the CPU is what runs
# out (benchmarks/README.md, API load at M: 39.6 -> 43.9 requests/s served, p95 450 -> 270 ms).
# The Celery workers and manage.py keep PostgreSQL's default for their large statements.
# PGOPTIONS is libpq's own variable: a value set by the deployment wins.
os.environ.setdefault("PGOPTIONS", "-c max_parallel_workers_per_gather=0")
application = get_wsgi_application()
