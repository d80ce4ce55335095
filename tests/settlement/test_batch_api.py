"""REST API of batches, payments and collections; pages of the bureau."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from settlement.models import BatchStatus, SettlementBatch
from settlement.services import batch_rules as rules
from settlement.services.batches import batch_approve, batch_create, batch_submit
from tests.factories import (
    EnterpriseFactory,
    HospitalFactory,
    batch_staff,
    enterprise_user,
    hospital_user,
    settleable_line,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    staff = batch_staff()
    hospital, distributor = HospitalFactory(), EnterpriseFactory()
    settleable_line(hospital, distributor, amount="100.00")
    return staff, hospital, distributor


def client_for(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_create_submit_approve_through_the_api_with_idempotency(world):
    staff, _h, _d = world
    maker, approver = client_for(staff[1]), client_for(staff[2])
    body = {"region": "371000", "cutoff": "2026-09-30"}
    first = maker.post("/api/v1/batches/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    replay = maker.post("/api/v1/batches/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and replay.data == first.data and SettlementBatch.objects.count() == 1
    no = first.data["no"]
    assert maker.post(f"/api/v1/batches/{no}/submit/", {}, format="json").data["status"] == "submitted"
    refused = maker.post(f"/api/v1/batches/{no}/approve/", {}, format="json")
    assert refused.status_code == 403 and refused.data["code"] == rules.FORBIDDEN  # an operator
    ok = approver.post(f"/api/v1/batches/{no}/approve/", {}, format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    assert ok.status_code == 200 and ok.data["status"] == "approved" and ok.data["approved_by"] == staff[2].username
    detail = approver.get(f"/api/v1/batches/{no}/").data
    assert detail["lines"]["count"] == 1 and detail["lines"]["results"][0]["deducted_amount"] == "0.00"
    assert detail["by_hospital"][0]["collection"] == "100.00"
    assert [e["action"] for e in detail["events"]] == ["create", "submit", "approve"]


def test_the_maker_is_refused_by_the_api(world):
    staff = world[0]
    maker = staff[3]  # an approver who built the batch
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=maker)
    batch_submit(batch_no=batch.no, user=maker)
    resp = client_for(maker).post(f"/api/v1/batches/{batch.no}/approve/", {}, format="json")
    assert resp.status_code == 403 and resp.data["code"] == rules.FOUR_EYES
    assert set(resp.data) == {"code", "detail", "fields"}
    resp = client_for(maker).post(f"/api/v1/batches/{batch.no}/reject/", {"reason": "x"}, format="json")
    assert resp.data["code"] == rules.FOUR_EYES
    assert SettlementBatch.objects.get().status == BatchStatus.SUBMITTED


def test_other_parties_get_404(world):
    staff, hospital, distributor = world
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    foreign = batch_staff("372000")[2]
    assert client_for(foreign).get(f"/api/v1/batches/{batch.no}/").status_code == 404
    assert client_for(foreign).post(f"/api/v1/batches/{batch.no}/submit/", {}, format="json").status_code == 404
    assert client_for(enterprise_user(distributor)).get(f"/api/v1/batches/{batch.no}/").status_code == 404
    assert client_for(foreign).get("/api/v1/batches/").data["count"] == 0


def test_preview_reject_reason_and_bad_input(world):
    staff = world[0]
    c = client_for(staff[1])
    preview = c.get("/api/v1/batches/preview/", {"region": "371000", "cutoff": "2026-09-30"})
    assert preview.status_code == 200 and preview.data["amount"] == "100.00"
    assert c.post("/api/v1/batches/", {"region": "37", "cutoff": "x"}, format="json").status_code == 400
    empty = c.post("/api/v1/batches/", {"region": "371000", "cutoff": "2025-01-01"}, format="json")
    assert empty.status_code == 400 and empty.data["code"] == rules.NO_LINES
    no = c.post("/api/v1/batches/", {"region": "371000", "cutoff": "2026-09-30"}, format="json").data["no"]
    c.post(f"/api/v1/batches/{no}/submit/", {}, format="json")
    resp = client_for(staff[2]).post(f"/api/v1/batches/{no}/reject/", {"reason": ""}, format="json")
    assert resp.status_code == 400 and resp.data["code"] == rules.REASON_REQUIRED


def test_list_query_count_is_flat(world):
    staff = world[0]
    c = client_for(staff[1])
    batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    with CaptureQueriesContext(connection) as one:
        c.get("/api/v1/batches/")
    for i in range(4):
        settleable_line(HospitalFactory(), EnterpriseFactory(), amount="1.00", accepted=f"2026-10-0{i + 1}")
        batch_create(region_code="371000", cutoff=dt.date(2026, 10, i + 1), user=staff[1])
    with CaptureQueriesContext(connection) as five:
        assert c.get("/api/v1/batches/").data["count"] == 5
    assert len(five) == len(one)


def test_payments_bank_file_confirmations_and_collections(world):
    staff, hospital, distributor = world
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch_approve(batch_no=batch.no, user=staff[2])
    c = client_for(staff[1])
    csv_file = c.get(f"/api/v1/batches/{batch.no}/bank-file/")
    text = csv_file.content.decode("utf-8-sig")
    assert (
        text.splitlines()[0].startswith("batch_no,instruction_no,payee_credit_code")
        and distributor.bank_account in text
    )
    assert c.get(f"/api/v1/batches/{batch.no}/bank-file/", {"type": "xlsx"}).content[:2] == b"PK"
    instr = batch.instructions.get()
    own = client_for(enterprise_user(distributor)).get("/api/v1/payment-instructions/")
    assert [i["no"] for i in own.data["results"]] == [instr.no]
    row = {
        "instruction_no": instr.no,
        "payee_credit_code": distributor.pk,
        "amount": "100.00",
        "status": "success",
        "paid_at": "2026-10-08T10:00:00",
        "bank_ref": "B1",
    }
    bad = c.post("/api/v1/payment-confirmations/", {"rows": [{**row, "amount": "99.00"}]}, format="json")
    assert bad.status_code == 400 and bad.data["fields"]["rows"][0]["column"] == "amount"
    ok = c.post("/api/v1/payment-confirmations/", {"rows": [row]}, format="json")
    assert ok.data["paid"] == 1 and ok.data["batches_paid"] == [batch.no]
    coll = batch.collections.get()
    assert [x["no"] for x in client_for(hospital_user(hospital)).get("/api/v1/collections/").data["results"]] == [
        coll.no
    ]
    assert client_for(hospital_user(HospitalFactory())).get("/api/v1/collections/").data["count"] == 0
    paid = c.post(f"/api/v1/collections/{coll.no}/pay/", {"bank_ref": "HB"}, format="json")
    assert paid.data["status"] == "paid"
    verify = client_for(staff[2]).get("/api/v1/ledger/verify/")
    assert verify.data == {"ok": True, "violations": []}


def test_builder_and_review_pages(world, client):
    staff = world[0]
    client.force_login(staff[1])
    page = client.get("/batches/", {"region": "371000", "cutoff": "2026-09-30", "preview": "1"}).content.decode()
    assert "100.00" in page and "batch-preview" in page
    resp = client.post("/batches/create/", {"region": "371000", "cutoff": "2026-09-30"})
    batch = SettlementBatch.objects.get()
    assert resp.status_code == 302 and resp["Location"].endswith(f"/batches/{batch.no}/")
    client.post(f"/batches/{batch.no}/submit/")
    maker_view = client.get(f"/batches/{batch.no}/").content.decode()
    assert 'class="approve"' not in maker_view
    client.force_login(staff[2])
    approver_view = client.get(f"/batches/{batch.no}/").content.decode()
    assert 'class="approve"' in approver_view
    client.post(f"/batches/{batch.no}/approve/")
    assert SettlementBatch.objects.get().status == BatchStatus.APPROVED
    for url in ("/payments/", "/collections/", "/prepayments/"):
        assert client.get(url).status_code == 200
    assert Decimal(SettlementBatch.objects.get().collection_amount) == Decimal("100.00")
