"""What a stage wrote, as one md5 per table, independent of surrogate ids, document numbers
and clocks that legitimately differ between an eager run and a run on workers (the order
in which partitions finish decides ids and numbers; ``*_at`` columns are wall clock).
Rows that came from the import keep their ids (both runs import the same files in the
same order), so references to them are compared as they are.
"""

from __future__ import annotations

from django.db import connection

# stage -> {name: SQL returning one text column, ordered}
QUERIES = {
    "reconcile": {
        "invoice_lines": """
            SELECT concat_ws('|', il.id, il.match_status, il.exception_codes, il.net_qty, il.net_amount,
                             il.reverses_id, st.hospital_id, st.distributor_id, st.period, st.sequence)
            FROM settlement_invoiceline il LEFT JOIN settlement_statement st ON st.id = il.statement_id
            ORDER BY il.id""",
        "statements": """
            SELECT concat_ws('|', hospital_id, distributor_id, period, sequence, status, deadline)
            FROM settlement_statement ORDER BY hospital_id, distributor_id, period, sequence""",
    },
    "alerts": {
        "alerts": """
            SELECT concat_ws('|', kind, severity, status, subject_type, subject_key, period, region_code,
                             hospital_code, enterprise_code, responsible, stage, value, threshold, amount,
                             message, (evidence - 'statement_no')::text, first_seen_on, last_seen_on,
                             resolved_at IS NULL)
            FROM settlement_alert WHERE kind NOT LIKE 'PRICE%'
            ORDER BY kind, subject_type, subject_key, period, region_code""",
        "notifications": """
            SELECT concat_ws('|', n.user_id, n.kind, n.reason, a.kind, a.subject_key, a.period, count(*))
            FROM settlement_notification n LEFT JOIN settlement_alert a ON a.id = n.alert_id
            WHERE a.kind IS NULL OR a.kind NOT LIKE 'PRICE%'
            GROUP BY n.user_id, n.kind, n.reason, a.kind, a.subject_key, a.period
            ORDER BY 1""",
    },
    "prices": {
        "price_alerts": """
            SELECT concat_ws('|', kind, severity, status, subject_type, subject_key, period, region_code,
                             hospital_code, enterprise_code, responsible, value, threshold, amount,
                             evidence::text, first_seen_on, last_seen_on)
            FROM settlement_alert WHERE kind LIKE 'PRICE%'
            ORDER BY kind, subject_type, subject_key, period, region_code""",
        "observations": """
            SELECT concat_ws('|', source, source_id, category, comparable_key, units_per_package, region_code,
                             period, observed_on, qty, price_units, unit_price_micro, enterprise_id,
                             hospital_id, product_id)
            FROM price_monitor_priceobservation ORDER BY source, source_id""",
    },
}
# Reconciling again (after the batch) must leave what reconcile left, but for the
# statements confirm has moved on: the same tables, compared between runs.
QUERIES["rematch"] = QUERIES["reconcile"]


def stage_digests(stage: str) -> dict[str, dict]:
    """{name: {"rows": n, "md5": hex}} for the stage's tables (empty for other stages)."""
    out = {}
    with connection.cursor() as cur:
        for name, sql in QUERIES.get(stage, {}).items():
            cur.execute(f"SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) FROM ({sql}) AS q(r)")
            rows, digest = cur.fetchone()
            out[name] = {"rows": rows, "md5": digest}
    return out
