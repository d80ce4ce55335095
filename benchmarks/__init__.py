"""Benchmarks: ``manage.py bench`` (pipeline, with a floor beside each stage) and load/ (API load)."""
