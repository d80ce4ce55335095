"""API load: enterprises read receivables and line stages, hospitals confirm receipts,
price analysts page alerts. Run by benchmarks/load/run.sh (headless, 127.0.0.1 only).

Tokens come from the JSON file named by ``LOAD_TOKENS`` (written by run.sh):
``{"enterprise": [...], "hospital": [...], "price_analyst": [...]}``.

Hospitals take delivery lines awaiting receipt from ``GET /deliveries/?received=false``
(shared per hospital so no two simulated users confirm the same line) and confirm each
in full (201). When none are left they re-send a receipt they already made, which the
service answers as an idempotent replay (200); those requests are counted under their
own name, ``POST /receipts/ (replay)``, so the table shows how many were first writes.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections import deque

from locust import HttpUser, between, events, task

TOKENS = json.loads(open(os.environ["LOAD_TOKENS"], encoding="utf-8").read())  # noqa: SIM115
AS_OF = os.environ.get("LOAD_AS_OF", "2026-10-31")
PAGE_SIZE = 50


def _pick(role: str) -> str:
    return random.choice(TOKENS[role])  # noqa: S311 - load shape, not security


class ApiUser(HttpUser):
    abstract = True
    wait_time = between(0.5, 1.5)
    role = ""

    def on_start(self):
        self.token = _pick(self.role)
        self.client.headers.update({"Authorization": f"Token {self.token}", "Accept": "application/json"})

    def page_of(self, path: str, name: str, pages_key: str, **params):
        """GET a random page of ``path`` (within the count seen last time)."""
        last = getattr(self, pages_key, 1)
        params["page"] = random.randint(1, max(1, last))  # noqa: S311
        with self.client.get(path, params=params, name=name, catch_response=True) as response:
            if response.status_code == 200:
                count = response.json().get("count", 0)
                setattr(self, pages_key, max(1, -(-count // PAGE_SIZE)))
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")


class EnterpriseUser(ApiUser):
    weight = 2
    role = "enterprise"

    @task(3)
    def receivables(self):
        self.page_of("/api/v1/receivables/", "GET /receivables/", "_rec_pages", as_of=AS_OF)

    @task(2)
    def lines(self):
        self.page_of("/api/v1/lines/", "GET /lines/", "_line_pages")


# delivery lines awaiting receipt, per hospital token, shared by that hospital's users
_AWAITING: dict[str, deque] = {}
_CONFIRMED: dict[str, list] = {}


class HospitalUser(ApiUser):
    weight = 2
    role = "hospital"

    def on_start(self):
        super().on_start()
        _CONFIRMED.setdefault(self.token, [])
        if self.token not in _AWAITING:
            _AWAITING[self.token] = deque()
            self.fetch_awaiting()

    def fetch_awaiting(self):
        queue = _AWAITING[self.token]
        with self.client.get(
            "/api/v1/deliveries/",
            params={"received": "false", "page_size": 200},
            name="GET /deliveries/?received=false",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            for row in response.json()["results"]:
                queue.append((row["delivery_no"], row["line_no"], row["qty"]))

    @task
    def confirm_receipt(self):
        queue = _AWAITING[self.token]
        if queue:
            line, name, expected = queue.popleft(), "POST /receipts/", (201, 200)
        elif _CONFIRMED[self.token]:
            line, name, expected = random.choice(_CONFIRMED[self.token]), "POST /receipts/ (replay)", (200,)  # noqa: S311
        else:
            return self.fetch_awaiting()
        delivery_no, line_no, qty = line
        body = {"delivery_no": delivery_no, "line_no": line_no, "accepted_qty": qty, "rejected_qty": 0}
        with self.client.post(
            "/api/v1/receipts/",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code in expected:
                response.success()
                if name == "POST /receipts/":
                    _CONFIRMED[self.token].append(line)
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")


class AnalystUser(ApiUser):
    weight = 1
    role = "price_analyst"

    @task
    def alerts(self):
        self.page_of("/api/v1/alerts/", "GET /alerts/", "_alert_pages")


@events.quitting.add_listener
def _summary(environment, **_kw):
    """Exit code 1 when any request failed (run.sh reports it)."""
    if environment.stats.total.num_failures:
        environment.process_exit_code = 1
