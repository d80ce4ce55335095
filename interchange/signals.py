"""Sent after an import has committed, so features can react (e.g. re-run matching).

``table_imported.send(sender=None, table="invoices", partitions={("3710", "2026-09"), ...},
user=<User|None>)``: ``partitions`` are the (region prefix or code, YYYY-MM) pairs the
new rows touch (hospital region code, month of the document's date); receivers enqueue
their work with ``transaction.on_commit`` / ``delay_on_commit``.
"""

from django.dispatch import Signal

table_imported = Signal()
