"""Reads of settlement that more than one caller needs (one module per topic)."""
