"""Sent after an import has committed, so features can react (e.g. re-run matching).

``table_imported.send(sender=None, table="invoices", partitions={("3710", "2026-09"), ...},
user=<User|None>)``: ``partitions`` are the (region prefix or code, YYYY-MM) pairs the
new rows touch (hospital region code, month of the document's date); receivers enqueue
their work with ``transaction.on_commit`` / ``delay_on_commit``.

``with deferred():`` (``manage.py import_dir``) holds the sends back and, on exit,
dispatches them merged: a receiver marked ``merges_tables = True`` is called once with
``tables={table: partitions, ...}`` (and ``table``/``partitions`` of the first table, the
union of all partitions) so it can do its work once for the whole directory (matching
once instead of after each of deliveries, receipts and invoices); any other receiver is
called once per table with that table's merged partitions, as a single import would.
"""

from __future__ import annotations

import contextlib
import threading

from django.dispatch import Signal
from django.dispatch.dispatcher import NO_RECEIVERS


class DeferrableSignal(Signal):
    """A Signal whose sends can be buffered per thread (see ``deferred``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    def _buffer(self) -> list | None:
        return getattr(self._local, "buffer", None)

    def send(self, sender, **named):
        buffer = self._buffer()
        if buffer is not None:
            buffer.append((sender, named))
            return []
        return super().send(sender, **named)

    @contextlib.contextmanager
    def deferred(self):
        if self._buffer() is not None:  # nested: the outermost one dispatches
            yield
            return
        self._local.buffer = []
        try:
            yield
        finally:
            buffered, self._local.buffer = self._local.buffer, None
            self._dispatch_merged(buffered)

    def _dispatch_merged(self, buffered: list) -> None:
        """One call per receiver (merging receivers) or per table (the others)."""
        if not buffered:
            return
        tables: dict[str, set] = {}
        user = None
        for _sender, named in buffered:
            tables.setdefault(named["table"], set()).update(tuple(p) for p in named.get("partitions") or ())
            user = named.get("user", user)
        if not self.receivers or self.sender_receivers_cache.get(None) is NO_RECEIVERS:
            return
        first = next(iter(tables))
        union = set().union(*tables.values())
        for receiver in self._live_receivers(None)[0]:
            if getattr(receiver, "merges_tables", False):
                receiver(
                    signal=self,
                    sender=None,
                    table=first,
                    partitions=set(union),
                    tables={t: set(p) for t, p in tables.items()},
                    user=user,
                )
            else:
                for table, partitions in tables.items():
                    receiver(signal=self, sender=None, table=table, partitions=set(partitions), user=user)


table_imported = DeferrableSignal()


def deferred():
    """``with deferred():`` buffers ``table_imported`` sends of this thread; see the module docstring."""
    return table_imported.deferred()
