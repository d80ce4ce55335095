"""The "Pipeline" section of benchmarks/README.md, regenerated from results/*.json.

Only the text between the two markers below is rewritten; every other section stays.
The newest result of each scale is shown.
"""

from __future__ import annotations

import json
from pathlib import Path

START = "<!-- bench:pipeline:start -->"
END = "<!-- bench:pipeline:end -->"
SECTION = "## Pipeline"

# Targets are set for scale L; the rate-based ones (import, reconcile) apply at any scale.
TARGETS = {
    "import": ("≥ 200k rows/s on large tables", lambda s: _large_rate(s) >= 200_000),
    "reconcile": (
        "1.5M lines ≤ 60 s (≥ 25k lines/s) and ≤ 3× floor",
        lambda s: s["rows_per_s"] >= 25_000 and (s["ratio"] or 99) <= 3,
    ),
    "batch": ("≤ 30 s for the province", lambda s: s["seconds"] <= 30),
    "prices": ("a month ≤ 30 s", lambda s: s["seconds"] <= 30),
}
# Time-based targets describe scale L; a smaller data set says nothing about them.
L_ONLY = {"batch", "prices"}
MEMORY_TARGET_MB = 4096


def _large_rate(stage: dict) -> float:
    tables = stage.get("detail", {}).get("tables", {})
    big = [t for t in tables.values() if t["rows"] >= 100_000]
    seconds = sum(t["seconds"] for t in big)
    return sum(t["rows"] for t in big) / seconds if seconds else 0.0


def _fmt(x, spec=",.0f") -> str:
    return "—" if x is None else format(x, spec)


def digest_comparison(doc: dict, eager: dict | None) -> list[str]:
    """For a run on workers: are the stage results identical to the eager run's?"""
    if not doc.get("workers"):
        return []
    if eager is None:
        return ["\nNo eager run of the same scale and seed to compare the results with."]
    theirs = {s["stage"]: s.get("detail", {}).get("digests") for s in eager["stages"]}
    # A stage kept from an earlier run of that day was measured at that run's commit.
    commits = {
        s["stage"]: s.get("detail", {}).get("carried_over", {}).get("from_commit") or eager["commit"]
        for s in eager["stages"]
    }
    out = []
    for s in doc["stages"]:
        mine = s.get("detail", {}).get("digests")
        if not mine:
            continue
        other = theirs.get(s["stage"])
        if not other:
            out.append(f"- {s['stage']}: the eager run has no digest for this stage")
            continue
        same = mine == other
        rows = ", ".join(f"{name} {d['rows']:,}" for name, d in mine.items())
        out.append(
            f"- {s['stage']}: {'**identical**' if same else '**DIFFERENT**'} to the eager run "
            f"of {eager['date']} (commit {commits[s['stage']]}) — rows compared: {rows}"
        )
    return ["", "Results against eager mode (md5 of what each stage wrote, ids and clocks left out):", "", *out]


def _server_settings(m: dict) -> str:
    """The server settings the run had (SHOW)."""
    settings = m.get("postgresql_settings")
    if not settings:
        return ""
    return " Server: " + ", ".join(f"`{k}` {v}" for k, v in sorted(settings.items())) + "."


def table_for(doc: dict, eager: dict | None = None) -> str:
    m = doc["machine"]
    mode = f", {doc['workers']} Celery workers" if doc.get("workers") else ""
    lines = [
        f"### Scale {doc['scale']} (seed {doc['seed']}){mode} — {doc['date']}, commit {doc['commit']}",
        "",
        f"Machine: {m['nproc']} CPU, {m['memory_gb']} GB RAM, PostgreSQL {m['postgresql']}; load average "
        f"{m['loadavg_start'][0]} at start, {m.get('loadavg_end', ['?'])[0]} at end. "
        f"Process RSS high-water {doc['process_maxrss_mb']:,.0f} MB.{_server_settings(m)}",
        "",
        "| stage | status | rows | seconds | of which SQL s | rows/s | peak RSS MB | floor s | × floor | target | met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for s in doc["stages"]:
        target, check = TARGETS.get(s["stage"], ("", None))
        if check and s["stage"] in L_ONLY and doc["scale"] != "L":
            target, check = f"{target} (at L)", None
        met = ""
        if s["status"] == "ok":
            ok = s["peak_rss_mb"] <= MEMORY_TARGET_MB and (check(s) if check else True)
            met = "yes" if ok else "**no**"
        status = s["status"] if s["status"] == "ok" else f"**{s['status']}**"
        if s.get("detail", {}).get("carried_over"):
            status += " †"
        if "analyze_seconds_before" in s.get("detail", {}):
            status += " ‡"
        lines.append(
            f"| {s['stage']} | {status} | {s['rows']:,} | {s['seconds']:,.1f} "
            f"| {_fmt(s.get('detail', {}).get('sql_seconds'), ',.1f')} | {_fmt(s['rows_per_s'])} "
            f"| {s['peak_rss_mb']:,.0f} | {_fmt(s['floor_seconds'], ',.2f')} | {_fmt(s['ratio'], ',.1f')} "
            f"| {target} | {met} |"
        )
    imp = next((s for s in doc["stages"] if s["stage"] == "import" and s["status"] == "ok"), None)
    if imp:
        lines += [
            "",
            "Import per table (tables of 1,000+ rows):",
            "",
            "| table | rows | seconds | rows/s | COPY floor s | × floor |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        floor = imp["detail"].get("floor_tables", {})
        for name, t in imp["detail"].get("tables", {}).items():
            if t["rows"] < 1000:
                continue
            f = floor.get(name, {}).get("seconds")
            rate = t["rows"] / t["seconds"] if t["seconds"] else 0
            ratio = t["seconds"] / f if f else None
            lines.append(
                f"| {name} | {t['rows']:,} | {t['seconds']:,.1f} | {rate:,.0f} | {_fmt(f, ',.2f')} | {_fmt(ratio, ',.0f')} |"
            )
        lines.append(f"\nLarge tables (≥ 100k rows) together: {_large_rate(imp):,.0f} rows/s.")
    earlier = sorted(
        {
            s["detail"]["carried_over"].get("from_commit") or "?"
            for s in doc["stages"]
            if s.get("detail", {}).get("carried_over")
        }
    )
    if earlier:
        lines.append(
            f"\n† from an earlier run of the same day, at commit {', '.join(earlier)} (a later run of some "
            "`--stages` only kept it)."
        )
    if doc.get("workers"):
        lines.append(
            "\n«of which SQL» counts the bench process's own statements only: the partitioned stages run their "
            "SQL in the worker processes."
        )
    if any("analyze_seconds_before" in s.get("detail", {}) for s in doc["stages"]):
        lines.append("\n‡ run with `--analyze`: planner statistics refreshed (ANALYZE) just before the stage.")
    failed = [s for s in doc["stages"] if s["status"] == "failed"]
    for s in failed:
        lines.append(f"\n`{s['stage']}` failed: `{s['error'][:300]}`")
    lines += digest_comparison(doc, eager)
    return "\n".join(lines)


def pipeline_block(results_dir: Path) -> str:
    newest: dict[tuple[str, int], dict] = {}
    docs = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue
        if doc.get("scale") == "S":  # the smoke test's tiny set says nothing about speed
            continue
        docs.append(doc)
    # Newest by when the run started (files of one day may be kept under other names).
    for doc in sorted(docs, key=lambda d: d.get("started_at") or d.get("date") or ""):
        newest[(doc["scale"], doc.get("workers") or 0)] = doc
    intro = (
        "Generated by `manage.py bench` from `benchmarks/results/*.json` (newest run of each scale); "
        "do not edit by hand. Rows: generate = rows written; import = rows read; reconcile = invoice lines "
        "checked; confirm = statements confirmed; batch = lines in the batch; rematch = invoice lines checked again after "
        "the batch's approval (since cc38e08 only those on a delivery line with an open invoice line; earlier all, "
        "the approved ones read and left as they were); alerts = accepted delivery "
        "lines judged; prices = order lines of the month; observations = price observations written (the "
        "import receiver's build, timed on its own). Targets are for scale L; the rate-based ones "
        "are judged at any scale, memory ≤ 4 GB everywhere (met = both). «of which SQL» = time in statements sent "
        "through Django's cursor (COPY not included), from benchmarks/sqltime.py; each stage's slowest statements "
        "are in the JSON (`detail.sql_top`)."
    )
    body = (
        "\n\n".join(table_for(newest[k], eager=newest.get((k[0], 0)) if k[1] else None) for k in sorted(newest))
        or "_No results yet._"
    )
    return f"{START}\n{intro}\n\n{body}\n{END}"


def readme_update(readme: Path, results_dir: Path) -> None:
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    block = pipeline_block(results_dir)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _old, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n" + _how_to_run() + "\n\n" + block + "\n"
    readme.write_text(text)


def _how_to_run() -> str:
    return (
        "`manage.py bench --scale M|L [--seed N] [--out-dir DIR] [--keep-db] [--stages generate,import,…] "
        "[--syncdb]` runs the pipeline on PostgreSQL (it refuses SQLite) in a database of its own — its "
        "name must contain `bench` — which it empties first and, without `--keep-db`, at the end:\n\n"
        "```\ncreatedb -h 127.0.0.1 -U postgres jicai_bench_m\n"
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/jicai_bench_m .venv/bin/python manage.py bench --scale M --syncdb\n```\n\n"
        "`--syncdb` creates the tables from the models (benchmarks/schema.py) while the migration files lag "
        "behind them; otherwise run `manage.py migrate` first. `--analyze` runs ANALYZE before each stage (fresh planner statistics; nothing in the application does it after a bulk import, see below); `--stage-timeout` stops a stage that runs longer (its query is cancelled) and records it as `timeout`. A run of some `--stages` keeps the other stages of that day's file. The data set is generated under "
        "`$BENCH_DATA_DIR` (default `/tmp/jicai_bench/data-<scale>-seed<seed>`) and reused when it exists.\n\n"
        "Each stage runs beside a **floor**: the same core work by the most direct means "
        "(benchmarks/floors.py) — generate: copying the CSV bytes; import: `COPY` of each CSV into a TEMP "
        "table of text columns; reconcile: one `CREATE TEMP TABLE AS` joining invoice → delivery → order "
        "lines and computing the join-only codes; confirm: one UPDATE of a copy of the statements; batch: one "
        "INSERT … SELECT of the confirmed lines and one GROUP BY hospital; alerts: one statement computing due "
        "dates and days overdue of accepted lines; prices: one pandas groupby median of the month's order "
        "prices. Peak RSS is the largest RSS sampled every 50 ms during the stage (/proc/self/statm)."
    )
