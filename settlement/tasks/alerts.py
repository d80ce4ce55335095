"""Celery tasks: alerts."""
