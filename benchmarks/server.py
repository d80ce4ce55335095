"""PostgreSQL server settings for bulk work (``manage.py bench --tune-server``).

The machine's server runs with PostgreSQL's defaults: 128 MB of shared buffers and a
checkpoint every 1 GB of WAL. A stage that rewrites millions of rows (an import, a
reconcile, a province batch) then forces a checkpoint every few seconds, and the first
change of every page after each checkpoint writes the whole 8 kB page to the WAL again
(a full-page image): at L these made up most of the WAL volume (4.2M images, 34 of 39 GB,
seen in ``pg_stat_wal``). A server that settles a province is configured for it; these are
the settings the tuned runs use, recorded in every result file (``machine.postgresql_settings``).

``max_wal_size``, ``checkpoint_timeout`` and ``wal_compression`` take effect on a reload
(ALTER SYSTEM + pg_reload_conf(), superuser). ``shared_buffers`` needs a restart, which the
bench does not do: it prints the command.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection

RELOADABLE = {
    "max_wal_size": "16GB",  # checkpoints by time, not every GB of WAL
    "checkpoint_timeout": "30min",
    "wal_compression": "lz4",  # the full-page images that remain, compressed
}
RESTART = {"shared_buffers": "4GB"}  # of 23.5 GB: the working set of a province's tables


def server_tune(log: Callable[[str], None] = print) -> dict[str, str]:
    """Apply the reloadable settings (ALTER SYSTEM, reload); say what needs a restart.
    Returns the settings in force afterwards."""
    with connection.cursor() as cur:
        for name, value in RELOADABLE.items():
            cur.execute(f"ALTER SYSTEM SET {name} = %s", [value])
        cur.execute("SELECT pg_reload_conf()")
    now = server_settings([*RELOADABLE, *RESTART])
    for name, value in RESTART.items():
        if now.get(name) != value:
            log(
                f"{name} is {now.get(name)}; for {value} run ALTER SYSTEM SET {name} = '{value}' and restart the "
                "server (pg_ctlcluster 15 main restart)"
            )
    return now


def server_settings(names) -> dict[str, str]:
    # Outside the transaction that a reload would not reach: a new statement sees the reloaded values.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name", [list(names)]
        )
        return dict(cur.fetchall())
