"""POST /api/v1/imports/{table}/: who may import what, and the report as the reply."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from interchange import reasons
from parties.models import Bureau
from procurement.models import DeliveryLine, OrderLine
from settlement.models import InvoiceLine
from tests.factories import UserFactory, bureau_user, enterprise_user, hospital_user
from tests.interchange.import_support import (
    INVOICE_HEADER,
    ORDER_HEADER,
    RECEIPT_HEADER,
    build_world,
    invoice_row,
    order_row,
    write_csv,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    """Uploaded files and their reports go under IMPORT_REPORT_DIR: keep them out of the tree."""
    settings.IMPORT_REPORT_DIR = tmp_path / "reports"


def _post(user, table, path, **data):
    client = APIClient()
    client.force_authenticate(user)
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
    return client.post(f"/api/v1/imports/{table}/", {"file": upload, **data}, format="multipart")


def test_hospital_may_not_upload_invoices(world, tmp_path):
    user = hospital_user(world.hospital)
    path = write_csv(tmp_path / "invoices.csv", INVOICE_HEADER, [invoice_row(world)])
    response = _post(user, "invoices", path)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert set(response.json()) >= {"code", "detail", "fields"}
    assert InvoiceLine.objects.count() == 0


def test_hospital_receipt_for_another_hospitals_delivery_is_a_row_error(world, tmp_path):
    user = hospital_user(world.hospital)
    rows = [
        ["DL0001", 1, 10, 0, "2026-09-03T10:00:00+08:00", ""],  # its own
        ["DL0002", 1, 5, 0, "2026-09-03T10:00:00+08:00", ""],  # another hospital's
    ]
    response = _post(user, "receipts", write_csv(tmp_path / "receipts.csv", RECEIPT_HEADER, rows))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "import_rejected" and body["status"] == "rejected"
    assert [(e["row"], e["column"], e["value"], e["reason"]) for e in body["errors"]] == [
        (3, "delivery_no", "DL0002", reasons.UNKNOWN_REFERENCE.code)
    ]
    assert DeliveryLine.objects.filter(accepted_qty__isnull=False).count() == 0


def test_hospital_receipts_of_its_own_deliveries_are_recorded_with_the_user(world, tmp_path):
    user = hospital_user(world.hospital)
    rows = [["DL0001", 1, 10, 0, "2026-09-03T10:00:00+08:00", ""]]
    response = _post(user, "receipts", write_csv(tmp_path / "receipts.csv", RECEIPT_HEADER, rows))
    assert response.status_code == 201, response.json()
    assert response.json()["counts"]["updated"] == 1
    line = DeliveryLine.objects.get(pk=world.delivery_line.pk)
    assert (line.accepted_qty, line.received_by_id) == (10, user.pk)


def test_distributor_uploads_its_invoices_only_as_seller(world, tmp_path):
    user = enterprise_user(world.distributor)
    rows = [
        invoice_row(world),
        invoice_row(world, invoice_no="26370000000000000002", distributor_credit_code=world.distributor2.credit_code),
    ]
    response = _post(user, "invoices", write_csv(tmp_path / "invoices.csv", INVOICE_HEADER, rows), lenient="true")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(e["row"], e["column"], e["reason"]) for e in body["errors"]] == [
        (3, "distributor_credit_code", reasons.OUT_OF_SCOPE.code)
    ]
    assert list(InvoiceLine.objects.values_list("distributor_id", flat=True)) == [world.distributor.credit_code]


def test_manufacturer_and_approver_may_not_import(world, tmp_path):
    path = write_csv(tmp_path / "invoices.csv", INVOICE_HEADER, [invoice_row(world)])
    assert _post(enterprise_user(world.manufacturer), "invoices", path).status_code == 403
    approver = bureau_user(Bureau.objects.get(region=world.city), role="bureau_approver")
    assert _post(approver, "invoices", path).status_code == 403


def test_bureau_operator_imports_for_its_region_only(world, tmp_path):
    operator = bureau_user(Bureau.objects.get(region=world.city))
    rows = [order_row(world, line_no=1), order_row(world, line_no=2, hospital_code=world.other_hospital.code)]
    response = _post(operator, "orders", write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows))
    assert response.status_code == 400
    assert [(e["row"], e["column"], e["reason"]) for e in response.json()["errors"]] == [
        (3, "hospital_code", reasons.OUT_OF_SCOPE.code)
    ]
    assert not OrderLine.objects.filter(order_no="PO1000").exists()


def test_admin_import_replays_with_idempotency_key(world, tmp_path):
    admin = UserFactory(role="admin")
    client = APIClient()
    client.force_authenticate(admin)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world)])

    def post():
        upload = SimpleUploadedFile("orders.csv", path.read_bytes(), content_type="text/csv")
        return client.post("/api/v1/imports/orders/", {"file": upload}, format="multipart", HTTP_IDEMPOTENCY_KEY="k-1")

    first, second = post(), post()
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert (
        first.json()["counts"]
        == second.json()["counts"]
        == {
            "read": 1,
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "rejected": 0,
        }
    )
    assert OrderLine.objects.filter(order_no="PO1000").count() == 1


def test_unknown_table_is_404_and_missing_file_400(world):
    admin = UserFactory(role="admin")
    client = APIClient()
    client.force_authenticate(admin)
    assert client.post("/api/v1/imports/nonsense/", {}, format="multipart").status_code == 404
    response = client.post("/api/v1/imports/orders/", {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["fields"]


def test_anonymous_is_refused(world, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world)])
    response = APIClient().post("/api/v1/imports/orders/", {"file": path.open("rb")}, format="multipart")
    assert response.status_code in (401, 403)
