"""Reads of procurement that more than one caller needs (one module per topic)."""
