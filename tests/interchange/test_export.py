"""Writers (CSV with BOM, XLSX), the export command and GET /api/v1/exports/{table}/."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from interchange import exports
from interchange.writers import write_table
from parties import scoping
from parties.models import Hospital
from tests.factories import HospitalFactory, RegionFactory, UserFactory, hospital_user

COLUMNS = ("hospital_code", "name", "amount", "price", "day")


@pytest.fixture
def hospitals_export():
    """A test-only export: hospitals the user may see, with Decimal/date columns."""

    @exports.register_export("test_hospitals", columns=COLUMNS, filters=("region", "as_of"))
    def rows(*, user, region=None, as_of=None):
        qs = scoping.scoped(Hospital.objects.order_by("code"), user, **scoping.HOSPITAL)
        if region:
            qs = qs.filter(region_id=region)
        for h in qs:
            yield (h.code, h.name, Decimal("1234.50"), Decimal("12.3456"), as_of or dt.date(2026, 9, 30))

    yield
    exports._REGISTRY.pop("test_hospitals", None)


def test_csv_is_utf8_with_bom_and_exact_decimals():
    out = io.BytesIO()
    n = write_table(COLUMNS, [("H1", "医院", Decimal("1234.50"), Decimal("0.1000"), dt.date(2026, 9, 1))], "csv", out)
    data = out.getvalue()
    assert n == 1
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines() == [",".join(COLUMNS), "H1,医院,1234.50,0.1000,2026-09-01"]


def test_xlsx_has_bold_header_and_numeric_money(tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "t.xlsx"
    write_table(COLUMNS, [("H1", "医院", Decimal("1234.50"), Decimal("12.3456"), dt.date(2026, 9, 1))], "xlsx", path)
    ws = load_workbook(path).worksheets[0]
    assert [c.value for c in ws[1]] == list(COLUMNS)
    assert ws["A1"].font.bold
    assert ws["C2"].value == pytest.approx(1234.5) and ws["C2"].number_format == "0.00"
    assert ws["D2"].number_format == "0.0000"


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format"):
        write_table(COLUMNS, [], "pdf", io.BytesIO())


@pytest.mark.django_db
def test_export_command_writes_a_bom_csv(tmp_path, hospitals_export):
    HospitalFactory(region=RegionFactory(code="371002"), name="一院")
    out = tmp_path / "h.csv"
    call_command("export", "test_hospitals", "--format", "csv", "-o", str(out), "--as-of", "2026-10-01")
    text = out.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    lines = text.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1].endswith(",一院,1234.50,12.3456,2026-10-01")


@pytest.mark.django_db
def test_export_command_refuses_bad_input(tmp_path, hospitals_export):
    with pytest.raises(CommandError, match="unknown export table"):
        call_command("export", "nonsense", "-o", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="--batch"):
        call_command("export", "test_hospitals", "--batch", "B1", "-o", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="--as-of"):
        call_command("export", "test_hospitals", "--as-of", "yesterday", "-o", str(tmp_path / "x.csv"))


@pytest.mark.django_db
def test_export_api_streams_the_callers_rows(hospitals_export):
    region = RegionFactory(code="371002")
    mine, other = HospitalFactory(region=region), HospitalFactory(region=region)
    client = APIClient()
    client.force_authenticate(hospital_user(mine))
    response = client.get("/api/v1/exports/test_hospitals/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert mine.code in text and other.code not in text


@pytest.mark.django_db
def test_export_api_xlsx_and_errors(hospitals_export):
    client = APIClient()
    client.force_authenticate(UserFactory(role="admin"))
    response = client.get("/api/v1/exports/test_hospitals/?format=xlsx")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"PK")
    bad = client.get("/api/v1/exports/test_hospitals/?format=pdf")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    assert client.get("/api/v1/exports/nonsense/").status_code == 404
