"""Idempotency, lenient mode, audited master data, signals, commands and import_dir."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from interchange import reasons
from interchange.models import ImportRun
from interchange.registry import register_table, registered_tables
from interchange.services.imports import APPLIED, REJECTED, table_import
from interchange.signals import table_imported
from parties.models import AuditEntry, Hospital, Region
from procurement.models import DeliveryLine, OrderLine
from settlement.models import InvoiceLine
from tests.interchange.import_support import (
    DELIVERY_HEADER,
    INVOICE_HEADER,
    ORDER_HEADER,
    RECEIPT_HEADER,
    build_world,
    errors_of,
    invoice_row,
    order_row,
    write_csv,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def _snapshot():
    return (
        list(OrderLine.objects.order_by("id").values()),
        list(DeliveryLine.objects.order_by("id").values()),
        list(InvoiceLine.objects.order_by("id").values()),
        AuditEntry.objects.count(),
    )


def test_same_files_twice_change_nothing(world, tmp_path):
    # given orders, deliveries, receipts and invoices imported once
    files = {
        "orders": (ORDER_HEADER, [order_row(world, line_no=1), order_row(world, line_no=2, qty=5)]),
        "deliveries": (
            DELIVERY_HEADER,
            [["DL5000", 1, "PO1000", 1, 20, "B7", "2028-01-31", "2026-09-11T10:00:00+08:00"]],
        ),
        "receipts": (RECEIPT_HEADER, [["DL5000", 1, 20, 0, "2026-09-12T10:00:00+08:00", ""]]),
        "invoices": (
            INVOICE_HEADER,
            [invoice_row(world, delivery_no="DL5000", qty=20, unit_price="12.5", amount="250.00")],
        ),
    }
    first = {t: table_import(table=t, path=write_csv(tmp_path / f"{t}.csv", *spec)) for t, spec in files.items()}
    assert [r.status for r in first.values()] == [APPLIED] * 4
    assert (first["orders"].created, first["receipts"].updated, first["invoices"].created) == (2, 1, 1)
    before = _snapshot()
    # when the same files are imported again
    again = {t: table_import(table=t, path=tmp_path / f"{t}.csv") for t in files}
    # then every row is unchanged and the database is identical
    assert {t: (r.status, r.created, r.updated, r.unchanged) for t, r in again.items()} == {
        "orders": (APPLIED, 0, 0, 2),
        "deliveries": (APPLIED, 0, 0, 1),
        "receipts": (APPLIED, 0, 0, 1),
        "invoices": (APPLIED, 0, 0, 1),
    }
    assert _snapshot() == before


def test_lenient_applies_the_valid_rows_only(world, tmp_path):
    rows = [order_row(world, line_no=1), order_row(world, line_no=2, qty=0), order_row(world, line_no=3)]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    report = table_import(table="orders", path=path, lenient=True)
    assert report.status == APPLIED
    assert (report.read, report.created, report.rejected) == (3, 2, 1)
    assert errors_of(report) == [(3, "qty", "0", reasons.NOT_POSITIVE.code)]
    assert sorted(OrderLine.objects.filter(order_no="PO1000").values_list("line_no", flat=True)) == [1, 3]
    assert (tmp_path / "orders.csv.errors.csv").exists()


def test_lenient_file_with_every_row_bad_is_rejected(world, tmp_path):
    rows = [order_row(world, line_no=1, qty=0), order_row(world, line_no=2, qty=-1)]
    report = table_import(table="orders", path=write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows), lenient=True)
    assert report.status == REJECTED
    assert report.rejected == 2 and report.created == 0
    assert not OrderLine.objects.filter(order_no="PO1000").exists()


def test_lenient_rechecks_rows_that_lean_on_refused_rows(world, tmp_path):
    header = ["region_code", "name", "parent_code"]
    rows = [["371100", "日照市", "3700XX"], ["371102", "东港区", "371100"], ["371003", "文登区", "371000"]]
    report = table_import(table="regions", path=write_csv(tmp_path / "regions.csv", header, rows), lenient=True)
    assert report.status == APPLIED
    assert errors_of(report) == [
        (2, "parent_code", "3700XX", reasons.REGION_FORMAT.code),
        (3, "parent_code", "371100", reasons.UNKNOWN_REFERENCE.code),
    ]
    assert Region.objects.filter(code__in=["371100", "371102"]).count() == 0
    assert Region.objects.get(code="371003").prefix == "371003"


def test_master_data_reimport_with_a_change_is_audited(world, tmp_path, django_user_model):
    header = ["hospital_code", "name", "region_code", "level", "ownership"]
    code = world.hospital.code
    path = write_csv(tmp_path / "hospitals.csv", header, [[code, "环翠区人民医院", "371002", "三级", "公立"]])
    operator = django_user_model.objects.create(username="op", role="admin")
    report = table_import(table="hospitals", path=path, user=operator)
    assert (report.status, report.updated, report.created) == (APPLIED, 1, 0)
    hospital = Hospital.objects.get(code=code)
    assert (hospital.name, hospital.level) == ("环翠区人民医院", "tertiary")
    entry = AuditEntry.objects.get(model="parties.Hospital", object_key=code)
    assert entry.action == "update" and entry.user == operator and entry.source == "import:hospitals.csv"
    assert entry.changes == {"name": [world.hospital.name, "环翠区人民医院"], "level": ["secondary", "tertiary"]}
    # the same file again: nothing changes, no new audit entry
    again = table_import(table="hospitals", path=path, user=operator)
    assert (again.updated, again.unchanged) == (0, 1)
    assert AuditEntry.objects.filter(model="parties.Hospital").count() == 1


def test_new_master_rows_are_audited_as_created(world, tmp_path):
    header = ["region_code", "name", "parent_code"]
    report = table_import(
        table="regions", path=write_csv(tmp_path / "regions.csv", header, [["371003", "文登区", "371000"]])
    )
    assert report.created == 1
    entry = AuditEntry.objects.get(model="parties.Region", object_key="371003")
    assert entry.action == "create" and entry.changes["parent"] == [None, "371000"]


def test_signal_names_partitions_after_commit(world, tmp_path, django_capture_on_commit_callbacks):
    got = []

    def receiver(sender, table, partitions, user, **kw):
        got.append((table, partitions))

    table_imported.connect(receiver)
    try:
        rows = [order_row(world, line_no=1), order_row(world, line_no=2, ordered_at="2026-10-01T00:10:00+08:00")]
        with django_capture_on_commit_callbacks(execute=True):
            report = table_import(table="orders", path=write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows))
        assert got == [("orders", {("371002", "2026-09"), ("371002", "2026-10")})]
        assert report.partitions == {("371002", "2026-09"), ("371002", "2026-10")}
        # nothing new → no signal
        with django_capture_on_commit_callbacks(execute=True):
            table_import(table="orders", path=tmp_path / "orders.csv")
        assert len(got) == 1
    finally:
        table_imported.disconnect(receiver)


def test_import_run_is_recorded(world, tmp_path):
    report = table_import(
        table="orders", path=write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world, qty=0)])
    )
    run = ImportRun.objects.get(pk=report.run_id)
    assert (run.table, run.status, run.read, run.rejected) == ("orders", REJECTED, 1, 1)
    assert run.report_path == report.report_path


def test_import_table_command_prints_counts_and_exits_1_on_rejection(world, tmp_path, capsys):
    good = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world)])
    call_command("import_table", "orders", str(good))
    out = capsys.readouterr().out
    assert "created 1" in out and "rejected 0" in out
    bad = write_csv(tmp_path / "bad.csv", ORDER_HEADER, [order_row(world, line_no=2, qty="x")])
    with pytest.raises(CommandError) as exc:
        call_command("import_table", "orders", str(bad))
    assert "rejected" in str(exc.value)
    assert str(tmp_path / "bad.csv.errors.csv") in capsys.readouterr().out
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "import_table", "orders", str(bad)])
    assert exit_info.value.code == 1


def test_import_table_unknown_table_and_user(world, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["a"], [["1"]])
    with pytest.raises(CommandError, match="unknown table"):
        call_command("import_table", "nonsense", str(path))
    with pytest.raises(CommandError, match="unknown user"):
        call_command("import_table", "orders", str(path), "--user", "nobody")


def test_import_dir_runs_in_dependency_order_and_stops_at_first_rejection(world, tmp_path, capsys):
    write_csv(tmp_path / "regions.csv", ["region_code", "name", "parent_code"], [["371003", "文登区", "371000"]])
    write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world, qty=0)])
    write_csv(tmp_path / "deliveries.csv", DELIVERY_HEADER, [])
    with pytest.raises(CommandError, match="orders"):
        call_command("import_dir", str(tmp_path))
    out = capsys.readouterr().out
    assert out.index("regions") < out.index("orders")
    assert "deliveries" not in out
    assert Region.objects.filter(code="371003").exists()


def test_registry_takes_extra_tables(world, tmp_path):
    from interchange.tables import PAYMENT_CONFIRMATIONS

    seen = []

    class Loader:
        def check(self, batch):
            seen.append(list(batch.valid()["instruction_no"]))

        def write(self, batch):
            return 0, 0

    register_table("payment_confirmations", PAYMENT_CONFIRMATIONS, Loader())
    try:
        assert registered_tables()[-1] == "payment_confirmations"
        header = ["instruction_no", "payee_credit_code", "amount", "status", "paid_at", "bank_ref"]
        rows = [["PI1", world.distributor.credit_code, "1,000.00", "成功", "2026-09-30T10:00:00+08:00", "R1"]]
        report = table_import(table="payment_confirmations", path=write_csv(tmp_path / "pc.csv", header, rows))
        assert report.ok and seen == [["PI1"]]
    finally:
        from interchange import registry

        registry._REGISTRY.pop("payment_confirmations", None)


@pytest.mark.postgres
def test_postgres_writes_large_tables_through_copy(world, tmp_path, monkeypatch):
    from interchange import bulk

    calls = []
    real_insert, real_update = bulk.copy_insert, bulk.copy_update
    monkeypatch.setattr(bulk, "copy_insert", lambda model, *a, **k: calls.append(model) or real_insert(model, *a, **k))
    monkeypatch.setattr(bulk, "copy_update", lambda model, *a, **k: calls.append(model) or real_update(model, *a, **k))
    orders = table_import(table="orders", path=write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world)]))
    receipts = table_import(
        table="receipts",
        path=write_csv(
            tmp_path / "receipts.csv", RECEIPT_HEADER, [["DL0001", 1, 10, 0, "2026-09-03T10:00:00+08:00", ""]]
        ),
    )
    assert (orders.created, receipts.updated) == (1, 1)
    assert calls == [OrderLine, DeliveryLine]


def test_report_falls_back_to_import_report_dir_when_input_folder_is_not_writable(
    world, tmp_path, settings, monkeypatch
):
    from interchange.services import imports as service

    settings.IMPORT_REPORT_DIR = tmp_path / "reports"
    real = service.write_table
    input_dir = tmp_path / "readonly"
    input_dir.mkdir()

    def refuse_beside_input(columns, rows, fmt, out):
        if str(out).startswith(str(input_dir)):
            raise PermissionError(out)
        return real(columns, rows, fmt, out)

    monkeypatch.setattr(service, "write_table", refuse_beside_input)
    path = write_csv(input_dir / "orders.csv", ORDER_HEADER, [order_row(world, qty=0)])
    report = table_import(table="orders", path=path)
    assert report.report_path.startswith(str(tmp_path / "reports" / "orders.csv."))
    assert "not_positive" in (tmp_path / "reports").joinpath(report.report_path.split("/")[-1]).read_text("utf-8-sig")
