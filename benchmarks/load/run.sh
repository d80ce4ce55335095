#!/usr/bin/env bash
# API load test: a fresh PostgreSQL database with the demo data set, gunicorn on
# 127.0.0.1, locust headless. Prints a p50/p95/p99 table per endpoint and writes it to
# $OUT/table.md. Cleans up (gunicorn stopped, database dropped) on exit.
#
#   benchmarks/load/run.sh                       # S data set, 50 users, 60 s
#   LOAD_SCALE=M LOAD_USERS=50 LOAD_TIME=120s benchmarks/load/run.sh
#   LOAD_KEEP_DB=1 benchmarks/load/run.sh        # keep the database afterwards
#   LOAD_PGOPTIONS="-c max_parallel_workers_per_gather=2" benchmarks/load/run.sh
#       # libpq options for gunicorn's connections (default: config/wsgi.py's, no parallel plans)
#   LOAD_TEMPLATE=jicai_load_m benchmarks/load/run.sh
#       # the first run keeps a copy of the loaded data (before users) as that database; later
#       # runs start from a copy of it (then migrate) instead of generating and importing again,
#       # so two commits can be measured on the same data. Drop it with dropdb when done.
#
# Needs: PostgreSQL reachable as postgres@127.0.0.1 (createdb/dropdb/psql), the venv
# with locust installed. Traffic goes to 127.0.0.1 only.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY="$ROOT/.venv/bin/python"

DB=${LOAD_DB:-jicai_load}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
export PGHOST PGUSER
SCALE=${LOAD_SCALE:-S}
USERS=${LOAD_USERS:-50}
SPAWN=${LOAD_SPAWN_RATE:-10}
TIME=${LOAD_TIME:-60s}
PORT=${LOAD_PORT:-8765}
WORKERS=${LOAD_WORKERS:-3}
THREADS=${LOAD_THREADS:-1}          # > 1: gunicorn's gthread worker class with this many threads each
AS_OF=${LOAD_AS_OF:-2026-10-31}
OUT=${LOAD_OUT:-${TMPDIR:-/tmp}/jicai_load}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA="$OUT/data"
GUNICORN_PID="$OUT/gunicorn.pid"

export DATABASE_URL="postgres://$PGUSER@$PGHOST:5432/$DB"
export DJANGO_SETTINGS_MODULE=config.settings.production
export DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')}
export DJANGO_ALLOWED_HOSTS=127.0.0.1
export DJANGO_SECURE_SSL_REDIRECT=false
export API_USER_RATE=1000000/hour
export DB_CONN_MAX_AGE=${DB_CONN_MAX_AGE:-60}
export CELERY_BROKER_URL=""   # tasks run inline, as on the embedded default
export LOG_LEVEL=${LOG_LEVEL:-ERROR}

cleanup() {
    local rc=$?
    if [[ -f "$GUNICORN_PID" ]]; then
        local pid
        pid=$(cat "$GUNICORN_PID")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        rm -f "$GUNICORN_PID"
    fi
    if [[ -z "${LOAD_KEEP_DB:-}" ]]; then
        dropdb --if-exists "$DB" 2>/dev/null || true
    fi
    exit $rc
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }
manage() { "$PY" manage.py "$@"; }
has_command() { manage help "$1" >/dev/null 2>&1; }

TEMPLATE=${LOAD_TEMPLATE:-}
FROM_TEMPLATE=""
if [[ -n "$TEMPLATE" ]] && psql -d postgres -Atc "select 1 from pg_database where datname = '$TEMPLATE'" | grep -q 1; then
    FROM_TEMPLATE=1
fi

step "database $DB"
dropdb --if-exists "$DB"
if [[ -n "$FROM_TEMPLATE" ]]; then
    createdb -T "$TEMPLATE" "$DB"
    echo "copied from $TEMPLATE (data set as it was loaded there); migrating"
    manage migrate -v0
    psql -d "$DB" -qc "VACUUM ANALYZE"
else
createdb "$DB"
if manage makemigrations --check --dry-run >/dev/null 2>&1; then
    manage migrate --run-syncdb -v0
else
    # others' models are ahead of the migration files: build the schema from the models,
    # as pytest --nomigrations does (no migration file is written)
    echo "WARNING: migrations lag behind the models; creating tables from the models (load_settings)"
    manage migrate --run-syncdb -v0 --pythonpath benchmarks/load --settings load_settings
fi

step "data set $SCALE (seed 1)"
rm -rf "$DATA"
manage generate_demo --scale "$SCALE" --seed 1 --out "$DATA" | tail -n 3
manage import_dir "$DATA" | grep -v 'rows/s' | sed 's/^/  /'
if has_command reconcile; then manage reconcile | head -n 2; else echo "reconcile: command missing, skipped"; fi
if has_command scan_alerts; then manage scan_alerts --as-of "$AS_OF" | tail -n 2 || echo "scan_alerts failed (alerts list may be empty)"; fi
if has_command scan_prices; then manage scan_prices --period "${AS_OF:0:7}" | tail -n 2 || echo "scan_prices failed"; fi
# planner statistics and the visibility map, as autovacuum would leave them on a server that
# has run for a while (it may be off here, and the importer ANALYZEs only large imports):
# without the map, the pages' COUNT(*) cannot be answered from an index alone
psql -d "$DB" -qc "VACUUM ANALYZE"
if [[ -n "$TEMPLATE" ]]; then
    createdb -T "$DB" "$TEMPLATE"
    echo "kept a copy of the loaded data as $TEMPLATE"
fi
fi

step "users"
PASSWORD="Load-$("$PY" -c 'import secrets; print(secrets.token_hex(8))')-pw"
# parties that have something to show: distributors with invoices, hospitals with
# deliveries awaiting receipt (most first), the province for the analysts
read -r -a DISTRIBUTORS <<<"$(psql -d "$DB" -Atc "select distributor_id from settlement_invoiceline group by 1 order by count(*) desc limit 8" | tr '\n' ' ')"
read -r -a HOSPITALS <<<"$(psql -d "$DB" -Atc "select o.hospital_id from procurement_deliveryline d join procurement_orderline o on o.id = d.order_line_id where d.received_at is null group by 1 order by count(*) desc limit 8" | tr '\n' ' ')"
PROVINCE=$(psql -d "$DB" -Atc "select code from parties_region where parent_id is null order by code limit 1")
echo "distributors: ${DISTRIBUTORS[*]}"
echo "hospitals:    ${HOSPITALS[*]}"
echo "analysts:     region $PROVINCE"
USERS_FILE="$OUT/users.txt"
: >"$USERS_FILE"
i=0
for code in "${DISTRIBUTORS[@]}"; do
    i=$((i + 1)); manage create_user "load_ent_$i" --role enterprise --enterprise "$code" --password "$PASSWORD" >/dev/null
    echo "enterprise load_ent_$i" >>"$USERS_FILE"
done
i=0
for code in "${HOSPITALS[@]}"; do
    i=$((i + 1)); manage create_user "load_hosp_$i" --role hospital --hospital "$code" --password "$PASSWORD" >/dev/null
    echo "hospital load_hosp_$i" >>"$USERS_FILE"
done
for i in 1 2; do
    manage create_user "load_pa_$i" --role price_analyst --region "$PROVINCE" --password "$PASSWORD" >/dev/null
    echo "price_analyst load_pa_$i" >>"$USERS_FILE"
done
wc -l <"$USERS_FILE"

WORKER_ARGS=(-w "$WORKERS")
if [[ "$THREADS" -gt 1 ]]; then WORKER_ARGS+=(--worker-class gthread --threads "$THREADS"); fi
step "gunicorn on 127.0.0.1:$PORT (${WORKER_ARGS[*]})"
env ${LOAD_PGOPTIONS:+"PGOPTIONS=$LOAD_PGOPTIONS"} "$ROOT/.venv/bin/gunicorn" config.wsgi "${WORKER_ARGS[@]}" -b "127.0.0.1:$PORT" --pid "$GUNICORN_PID" \
    --log-file "$OUT/gunicorn.log" --daemon
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/me/" || true)
    [[ "$code" == "401" || "$code" == "403" ]] && break
    sleep 0.2
done
echo "up: GET /api/v1/me/ without a token answers $code"

step "tokens"
"$PY" - "$BASE" "$USERS_FILE" "$PASSWORD" "$OUT/tokens.json" <<'EOF'
import json, sys, urllib.request
base, users_file, password, out = sys.argv[1:]
tokens = {}
for line in open(users_file, encoding="utf-8"):
    role, username = line.split()
    req = urllib.request.Request(
        f"{base}/api/v1/auth/token/", method="POST",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - 127.0.0.1 only
        tokens.setdefault(role, []).append(json.load(resp)["token"])
json.dump(tokens, open(out, "w"))
print({role: len(keys) for role, keys in tokens.items()})
EOF

step "locust: $USERS users, $TIME"
set +e
LOAD_TOKENS="$OUT/tokens.json" LOAD_AS_OF="$AS_OF" "$ROOT/.venv/bin/locust" -f benchmarks/load/locustfile.py \
    --headless -u "$USERS" -r "$SPAWN" -t "$TIME" --host "$BASE" --csv "$OUT/locust" --only-summary \
    --stop-timeout 5 >"$OUT/locust.log" 2>&1
LOCUST_RC=$?
set -e
tail -n 40 "$OUT/locust.log"

step "table"
"$PY" - "$OUT/locust_stats.csv" "$OUT/locust_failures.csv" <<'EOF' | tee "$OUT/table.md"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
print("| endpoint | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    name = "**all**" if r["Name"] == "Aggregated" else f"`{r['Name']}`"
    print(f"| {name} | {r['Request Count']} | {r['Failure Count']} | {float(r['Requests/s']):.1f} | "
          f"{r['50%']} | {r['95%']} | {r['99%']} | {float(r['Max Response Time']):.0f} |")
failures = list(csv.DictReader(open(sys.argv[2], encoding="utf-8")))
for f in failures:
    print(f"\nfailure: {f['Method']} {f['Name']} ×{f['Occurrences']}: {f['Error'][:300]}")
EOF
exit "$LOCUST_RC"
