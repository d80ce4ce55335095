"""Measure the price scan over one month (not collected by pytest: run it by hand).

    DATABASE_URL=postgres://… .venv/bin/python -m tests.price_monitor.bench_scan --period 2026-10 [--region 370000]

Prints, per phase, wall time, order lines per second and peak memory: Python heap peak
(tracemalloc, what pandas/numpy allocate through Python's allocator — numpy buffers are
traced) and the process's maximum resident set size (resource.getrusage).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--period", required=True)
    parser.add_argument("--region", default=None)
    parser.add_argument("--no-trace", action="store_true", help="skip tracemalloc (it slows Python allocations)")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from price_monitor.services import scan
    from price_monitor.services.observations import observations_build

    prefixes = scan.scan_prefixes(args.region)
    if not args.no_trace:
        tracemalloc.start()
    for prefix in prefixes:
        t0 = time.perf_counter()
        build = observations_build(region_prefix=prefix, period=args.period)
        t1 = time.perf_counter()
        result = scan.prices_scan_partition(region_prefix=prefix, period=args.period, build=False)
        t2 = time.perf_counter()
        n = result.order_lines
        print(f"partition {prefix or '*'} {args.period}: {n:,} order lines of the month")
        print(
            f"  observations build: {t1 - t0:7.1f}s  ({build.orders:,} orders, {build.invoices:,} invoices, "
            f"{build.references:,} references; {build.written / max(t1 - t0, 1e-9):,.0f} rows/s)"
        )
        print(f"  rules + alerts:     {t2 - t1:7.1f}s  ({n / max(t2 - t1, 1e-9):,.0f} order lines/s)")
        print(f"  whole scan:         {t2 - t0:7.1f}s  ({n / max(t2 - t0, 1e-9):,.0f} order lines/s)")
        print(f"  findings: {result.findings}")
        print(f"  alert sync: {result.synced}")
    if not args.no_trace:
        _current, peak = tracemalloc.get_traced_memory()
        print(f"peak Python heap (tracemalloc): {peak / 2**20:,.0f} MiB")
    print(f"max RSS (getrusage): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
