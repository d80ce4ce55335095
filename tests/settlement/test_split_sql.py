"""The funding split in SQL (``funding.split_sql``) against the reference rule
``split_funding``, line by line, for hospitals of every kind: the split needs the lines'
order only when the allocation or the allocation + prepayment falls strictly inside
(0, the hospital's positive total); every other hospital is computed without sorting.
Run on SQLite by ``make test`` and on PostgreSQL by ``.ci/run``."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest
from django.db import connection

from settlement.services.funding import (
    _drop_available,
    _drop_bounds,
    _fill_available,
    split_funding,
    split_sql,
    stage_bounds,
)

pytestmark = pytest.mark.django_db

_SOURCE = "tmp_split_probe"


def _hospital(rnd: random.Random, kind: str) -> tuple[list[int], int, int]:
    """Amounts (fen) and (allocation, prepayment) available for a hospital of ``kind``."""
    amounts = [rnd.randint(1, 50_000) for _ in range(rnd.randint(1, 12))]
    reds = [-rnd.randint(1, 3_000) for _ in range(rnd.randint(0, 2))] if kind != "no_red" else []
    total = sum(amounts)
    give_back = -sum(reds)
    alloc, prep = {
        "covered": (total + rnd.randint(0, 10_000), rnd.randint(0, 5_000)),  # alloc ≥ total
        "exact": (total - give_back, 0),  # alloc + give-back = total exactly
        "nothing": (0, 0),  # all collected (less the red lines' give-back)
        "prepaid_all": (0, total + 1),
        "alloc_inside": (rnd.randint(1, max(1, total - 1)), 0),
        "cap_inside": (0, rnd.randint(1, max(1, total - 1))),
        "both_inside": (total // 3, total // 3),
        "no_red": (rnd.randint(0, total), rnd.randint(0, total)),
    }[kind]
    return amounts + reds, max(alloc, 0), prep


def _world(seed: int) -> tuple[pd.DataFrame, dict[str, int], dict[str, int]]:
    rnd = random.Random(seed)
    kinds = ["covered", "exact", "nothing", "prepaid_all", "alloc_inside", "cap_inside", "both_inside", "no_red"]
    rows, alloc, prep = [], {}, {}
    for i, kind in enumerate(kinds * 3):
        h = f"H{i:03d}"
        amounts, alloc[h], prep[h] = _hospital(rnd, kind)
        for amt in amounts:
            rows.append(
                {
                    "id": len(rows) + 1,
                    "hospital_id": h,
                    "due_date": dt.date(2026, 9, rnd.choice([1, 1, 2, 9])),  # ties broken by invoice no.
                    "invoice_no": rnd.choice(["B", "a", "Z", "b"]) + f"{len(rows):04d}",
                    "invoice_code": rnd.choice(["", "X"]),
                    "line_no": rnd.randint(1, 3),
                    "amount_fen": amt,
                }
            )
    rnd.shuffle(rows)  # the source's order must not matter
    alloc.pop("H000")  # a hospital without an allocation row counts as 0
    return pd.DataFrame(rows), alloc, prep


def _sql_split(
    lines: pd.DataFrame, alloc: dict[str, int], prep: dict[str, int], *, staged_bounds: bool = False
) -> pd.DataFrame:
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE {_SOURCE} (id integer, hospital_id text, due_date date, invoice_no text, "
            "invoice_code text, line_no integer, amt bigint, pos bigint)"
        )
        try:
            for r in lines.itertuples(index=False):
                cur.execute(
                    f"INSERT INTO {_SOURCE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        r.id,
                        r.hospital_id,
                        r.due_date,
                        r.invoice_no,
                        r.invoice_code,
                        r.line_no,
                        r.amount_fen,
                        max(r.amount_fen, 0),
                    ],
                )
            _fill_available(cur, alloc, prep)
            source = f"SELECT * FROM {_SOURCE}"  # noqa: S608 — fixed names
            bounds = stage_bounds(cur, source, []) if staged_bounds else None
            cur.execute(split_sql(source, ("hospital_id",), bounds=bounds))
            got = pd.DataFrame(cur.fetchall(), columns=["id", "hospital_id", "d", "p", "c"])
            if bounds:
                _drop_bounds(cur)
            _drop_available(cur)
        finally:
            cur.execute(f"DROP TABLE {_SOURCE}")
    return got.astype({"id": "int64", "d": "int64", "p": "int64", "c": "int64"})


@pytest.mark.parametrize("staged_bounds", [False, True], ids=["bounds_in_statement", "bounds_staged"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_split_in_sql_equals_the_reference_rule_for_every_kind_of_hospital(seed, staged_bounds):
    # given hospitals whose allocation and prepayment fall on, inside and outside their totals
    lines, alloc, prep = _world(seed)
    expected = split_funding(lines, alloc, prep).set_index("id").sort_index()
    # the world has both kinds: some hospitals are split part-way, some are not
    part_way = (expected["deducted_fen"] != expected["amount_fen"].clip(lower=0)) & (expected["deducted_fen"] > 0)
    assert part_way.any() and (expected["prepayment_fen"] > 0).any() and (expected["collection_fen"] > 0).any()
    # when the database splits them
    got = _sql_split(lines, alloc, prep, staged_bounds=staged_bounds).set_index("id").sort_index()
    # then every line has the reference rule's three parts, to the fen
    assert len(got) == len(expected)
    assert (got["hospital_id"] == expected["hospital_id"]).all()
    pd.testing.assert_series_equal(got["d"], expected["deducted_fen"], check_names=False)
    pd.testing.assert_series_equal(got["p"], expected["prepayment_fen"], check_names=False)
    pd.testing.assert_series_equal(got["c"], expected["collection_fen"], check_names=False)


def _hashed_relations(plan: dict) -> set[str]:
    """Relations read under a Hash node of ``plan`` (EXPLAIN's JSON), i.e. the hashed sides."""
    found: set[str] = set()

    def relations(node: dict) -> set[str]:
        names = {node["Relation Name"]} if "Relation Name" in node else set()
        for child in node.get("Plans", []):
            names |= relations(child)
        return names

    def walk(node: dict) -> None:
        if node.get("Node Type") == "Hash":
            found.update(relations(node))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return found


@pytest.mark.postgres
def test_postgres_split_with_staged_bounds_hashes_the_hospitals_not_the_lines():
    # given 30,000 staged lines of 60 hospitals, some of which need the lines' order
    import json

    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE {_SOURCE} AS SELECT g AS id, 'H' || (g % 60) AS hospital_id, "
            "DATE '2026-09-01' + (g % 20) AS due_date, 'N' || g AS invoice_no, '' AS invoice_code, 1 AS line_no, "
            "(100 + g % 900)::bigint AS amt, (100 + g % 900)::bigint AS pos FROM generate_series(1, 30000) AS g"
        )
        cur.execute(f"ANALYZE {_SOURCE}")
        _fill_available(cur, {f"H{i}": (i % 3) * 100_000 for i in range(60)}, {})
        source = f"SELECT * FROM {_SOURCE}"  # noqa: S608 — fixed names
        bounds = stage_bounds(cur, source, [])
        # when the split statement is planned
        cur.execute("EXPLAIN (FORMAT JSON) " + split_sql(source, ("hospital_id",), bounds=bounds))
        raw = cur.fetchone()[0]
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        _drop_bounds(cur)
        _drop_available(cur)
        cur.execute(f"DROP TABLE {_SOURCE}")
    # then the per-hospital bounds are hashed and the lines are only scanned
    hashed = _hashed_relations(plan)
    assert bounds in hashed
    assert _SOURCE not in hashed
