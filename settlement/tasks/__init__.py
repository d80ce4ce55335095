"""Celery tasks of settlement, one module per feature (autodiscovery imports this package)."""

from settlement.tasks import alerts, batches, matching  # noqa: F401
