"""Writes of the interchange app: imports."""
