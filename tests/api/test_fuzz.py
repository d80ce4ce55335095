"""API fuzzing: every operation of /api/schema/, called as every role, never answers 5xx.

Schemathesis reads the OpenAPI document from the Django WSGI app and, for each
operation, generates a few requests (valid and invalid ones: wrong types, missing
fields, odd strings in path, query and body). Each generated request is sent once per
role (enterprise, hospital, bureau operator, bureau approver, price analyst, admin,
superuser) and once without credentials, into a small world of real rows (the scoping
world of tests/parties/world.py plus an alert and a batch). Path parameters are drawn
either from the fuzzer or from the keys of those rows, so detail views and actions are
reached with records that exist, not only with 404s.

Kept small on purpose (``FUZZ_EXAMPLES`` examples per operation, default 5) so the file
runs in about a minute on two cores; raise it locally for a deeper search:
``FUZZ_EXAMPLES=50 .venv/bin/pytest tests/api/test_fuzz.py --nomigrations``.
The search is derandomised (the same requests every run) unless ``FUZZ_RANDOM=1``.

A failure names the operation, the role, the request (as a curl command) and the
traceback Django logged for the 500.
"""

from __future__ import annotations

import itertools
import logging
import os
import traceback
import warnings

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from config.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") != "1"

ROLES = (
    "distributor_a",  # enterprise user (distributor)
    "manufacturer_m",  # enterprise user (manufacturer)
    "hospital_a",
    "bureau_weihai",  # bureau operator
    "approver_rizhao",  # bureau approver
    "analyst_province",  # price analyst
    "admin",
    "superuser",
)

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(max_examples=EXAMPLES, deterministic=DERANDOMIZE, database="none")

# Keys of the world's rows, filled by the ``fuzz_world`` fixture before any example is
# drawn; the path-parameter hook reads it at draw time.
KNOWN_KEYS: dict[str, list] = {}
_TURN = itertools.count()


@schema.hook
def flatmap_path_parameters(ctx, path_parameters):
    """Half of the time, replace each path parameter with the key of a row that exists."""
    if not path_parameters:
        return st.just(path_parameters)
    choices = {}
    for name, value in path_parameters.items():
        known = KNOWN_KEYS.get(name)
        choices[name] = st.sampled_from([value, *known]) if known else st.just(value)
    return st.fixed_dictionaries(choices)


class _ServerErrors(logging.Handler):
    """Collects what ``django.request`` logs for a 5xx: the traceback of the failing view."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def take(self) -> str:
        out = []
        for record in self.records:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info)[-6:])
            out.append(text)
        self.records.clear()
        return "\n".join(out)


@pytest.fixture
def server_errors():
    handler = _ServerErrors()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def keep_test_connection():
    """The WSGI app is called directly (not through Django's test client), so its
    request_started/finished handlers would close the test's database connection (and
    with it the test transaction on PostgreSQL). Disconnect them, as the test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(db, settings, keep_test_connection):
    """The scoping world, one token per role, and the keys the fuzzer may use in paths."""
    from rest_framework.authtoken.models import Token

    from tests.parties.world import build_world

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    settings.AXES_ENABLED = False  # the token endpoint is fuzzed with wrong passwords; lock-outs hide bugs
    world = build_world()
    tokens = {role: Token.objects.get_or_create(user=world.users[role])[0].key for role in ROLES}
    KNOWN_KEYS.clear()
    KNOWN_KEYS.update(_known_keys(world))
    yield world, tokens
    KNOWN_KEYS.clear()


def _known_keys(world) -> dict[str, list]:
    rows = world.rows
    regions = world.regions
    keys: dict[str, list] = {
        "region_code": [r.code for r in regions.values()],
        "credit_code": [rows[k].credit_code for k in ("distributor_a", "distributor_b", "manufacturer_m")],
        "hospital_code": [rows["hospital_a"].code, rows["hospital_b"].code],
        "product_code": [rows["product_m"].code, rows["product_n"].code],
        "round_code": [rows["round"].code],
        "supply_region_code": ["370000", "371100"],
        "year_start": ["2026-01-01"],
        "order_no": [rows["order_a"].order_no, rows["order_b"].order_no],
        "delivery_no": [rows[k].delivery_no for k in ("delivery_a", "delivery_b", "delivery_b_received")],
        "line_no": [1],
        "invoice": [rows["invoice_a"].invoice_no, rows["invoice_b"].invoice_no],
        "period": ["2026-09"],
        "source": ["listing"],
        "effective_from": ["2026-01-01"],
        "no": [rows["statement_a"].no, rows["statement_b"].no],
        "id": [rows["prepayment_a"].pk, rows["prepayment_b"].pk],
        "table": ["orders", "deliveries", "invoices", "receivables", "statements"],
    }
    keys["alert_no"] = _an_alert_no()
    keys["no"] += _a_batch_no(world)
    return keys


def _an_alert_no() -> list[str]:
    """Alerts exist only after a scan; run it so alert actions meet a real alert."""
    from django.core.management import call_command

    from settlement.models import Alert

    try:
        call_command("scan_alerts", "--as-of", "2026-12-31")
    except Exception as exc:  # noqa: BLE001 - the scan is someone else's; an empty inbox still fuzzes the 404 path
        warnings.warn(f"fuzz world: scan_alerts failed, alert actions only meet 404s: {exc!r}", stacklevel=1)
    return list(Alert.objects.values_list("alert_no", flat=True)[:3])


def _a_batch_no(world) -> list[str]:
    """A draft batch of 威海 over one settleable line, so batch actions meet a real batch."""
    import datetime as dt

    from settlement.models import SettlementBatch
    from settlement.services.batches import batch_create
    from tests.factories import settleable_line

    # distributor B: the world already holds an open statement of hospital A × distributor A
    settleable_line(world.rows["hospital_a"], world.rows["distributor_b"], amount="250.00")
    try:
        batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=world.users["bureau_weihai"])
    except Exception as exc:  # noqa: BLE001 - batch rules are someone else's; the fuzzer still POSTs /batches/ itself
        warnings.warn(f"fuzz world: no draft batch, batch actions only meet 404s: {exc!r}", stacklevel=1)
    return list(SettlementBatch.objects.values_list("no", flat=True)[:3])


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_for_any_role(case, fuzz_world, server_errors):
    _, tokens = fuzz_world
    callers = [("anonymous", None), *tokens.items()]
    # Schemathesis sends a few dozen cases per operation (its coverage phase: boundary
    # values, wrong types, missing and extra fields, then EXAMPLES random ones); each goes
    # out as the next caller in turn, so every role meets every operation with a mix of
    # cases while the whole file stays near a minute. FUZZ_ALL_ROLES=1 sends every case as
    # every caller (about nine times slower).
    if os.environ.get("FUZZ_ALL_ROLES") != "1":
        callers = [callers[next(_TURN) % len(callers)]]
    failures = []
    for role, token in callers:
        headers = {"Authorization": f"Token {token}"} if token else {}
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{role}: {case.method} {case.formatted_path} → {response.status_code}\n"
                f"  {case.as_curl_command(headers=headers)}\n{server_errors.take()}"
            )
            continue
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
    assert not failures, "\n\n".join(failures)
