"""Celery tasks: batches."""
