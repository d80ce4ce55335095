"""Celery tasks: matching."""
