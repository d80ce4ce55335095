"""Procurement writes, one module per topic."""
