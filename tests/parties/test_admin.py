"""Django admin: master data changes write AuditEntry rows; users show role and organisation;
documents are browse-only."""

import pytest
from django.test import Client

from parties.models import AuditEntry, Hospital, Role, User
from price_monitor.models import ReferencePrice
from tests.factories import (
    HospitalFactory,
    InvoiceLineFactory,
    ReferencePriceFactory,
    RegionFactory,
    UserFactory,
    hospital_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    return UserFactory(username="root", role=Role.ADMIN, is_superuser=True, is_staff=True)


@pytest.fixture
def browser(admin_user):
    c = Client()
    c.force_login(admin_user)
    return c


def test_changing_a_hospital_records_the_changed_fields(browser, admin_user):
    # given a hospital
    hospital = HospitalFactory(name="旧名称", level="secondary")
    # when an admin renames it and changes its level
    response = browser.post(
        f"/admin/parties/hospital/{hospital.code}/change/",
        {"name": "新名称", "region": hospital.region_id, "level": "tertiary", "ownership": "public"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    # then one audit entry names who, what and the old and new values of exactly those fields
    entry = AuditEntry.objects.get()
    assert (entry.user, entry.source, entry.model, entry.object_key, entry.action) == (
        admin_user,
        "admin",
        "parties.Hospital",
        hospital.code,
        "update",
    )
    assert entry.changes == {"name": ["旧名称", "新名称"], "level": ["secondary", "tertiary"]}


def test_saving_without_changes_writes_no_entry(browser):
    hospital = HospitalFactory()
    browser.post(
        f"/admin/parties/hospital/{hospital.code}/change/",
        {"name": hospital.name, "region": hospital.region_id, "level": hospital.level, "ownership": hospital.ownership},
    )
    assert not AuditEntry.objects.exists()


def test_natural_key_is_read_only_once_created(browser):
    hospital = HospitalFactory()
    page = browser.get(f"/admin/parties/hospital/{hospital.code}/change/").content.decode()
    assert 'name="code"' not in page


def test_adding_and_deleting_a_reference_price_are_audited(browser):
    price = ReferencePriceFactory()
    product, region = price.product, price.region
    response = browser.post(
        "/admin/price_monitor/referenceprice/add/",
        {
            "product": product.code,
            "source": "retail",
            "region": region.code,
            "price": "15.5000",
            "effective_from": "2026-03-01",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    added = ReferencePrice.objects.get(source="retail")
    create = AuditEntry.objects.get(action="create")
    assert create.model == "price_monitor.ReferencePrice" and create.object_key == str(added.pk)
    assert create.changes["price"] == [None, "15.5000"]
    assert create.changes["effective_from"] == [None, "2026-03-01"]

    response = browser.post(f"/admin/price_monitor/referenceprice/{added.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    delete = AuditEntry.objects.get(action="delete")
    assert delete.changes["source"] == ["retail", None]
    assert not ReferencePrice.objects.filter(pk=added.pk).exists()


def test_region_created_in_admin_is_audited_with_its_prefix(browser):
    RegionFactory(code="370000")
    response = browser.post("/admin/parties/region/add/", {"code": "371000", "name": "威海市", "parent": "370000"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(model="parties.Region")
    assert entry.changes["prefix"] == [None, "3710"]


def test_user_list_shows_role_and_organisation(browser):
    hospital = HospitalFactory(name="威海市立医院")
    hospital_user(hospital, username="nurse")
    page = browser.get("/admin/parties/user/").content.decode()
    assert "nurse" in page and "威海市立医院" in page and "医院用户" in page


def test_user_with_role_and_organisation_that_do_not_match_is_a_form_error(browser):
    hospital = HospitalFactory()
    response = browser.post(
        "/admin/parties/user/add/",
        {
            "username": "wrong",
            "password1": "Jicai-demo-2026!",
            "password2": "Jicai-demo-2026!",
            "usable_password": "true",
            "role": "enterprise",
            "hospital": hospital.code,
        },
    )
    assert response.status_code == 200  # the form again, not a 500 from the constraint
    assert not User.objects.filter(username="wrong").exists()
    assert "企业用户须属于一个医药企业" in response.content.decode()


def test_user_changes_are_audited_with_the_password_masked(browser):
    hospital = HospitalFactory()
    response = browser.post(
        "/admin/parties/user/add/",
        {
            "username": "newnurse",
            "password1": "Jicai-demo-2026!",
            "password2": "Jicai-demo-2026!",
            "usable_password": "true",
            "role": "hospital",
            "hospital": hospital.code,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditEntry.objects.get(model="parties.User")
    assert entry.changes["password"] == [None, "***"]
    assert entry.changes["hospital"] == [None, hospital.code]


def test_documents_are_browse_only(browser):
    line = InvoiceLineFactory()
    assert browser.get("/admin/settlement/invoiceline/").status_code == 200
    assert browser.get("/admin/settlement/invoiceline/add/").status_code == 403
    change = browser.get(f"/admin/settlement/invoiceline/{line.pk}/change/")
    assert change.status_code == 200 and 'type="submit" value="Save' not in change.content.decode()
    assert browser.post(f"/admin/settlement/invoiceline/{line.pk}/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/parties/region/",
        "/admin/parties/enterprise/",
        "/admin/parties/hospital/",
        "/admin/parties/bureau/",
        "/admin/parties/user/",
        "/admin/parties/auditentry/",
        "/admin/parties/securityevent/",
        "/admin/procurement/product/",
        "/admin/procurement/round/",
        "/admin/procurement/award/",
        "/admin/procurement/agreement/",
        "/admin/procurement/orderline/",
        "/admin/procurement/deliveryline/",
        "/admin/procurement/prepayment/",
        "/admin/settlement/invoiceline/",
        "/admin/settlement/fundallocation/",
        "/admin/settlement/statement/",
        "/admin/price_monitor/referenceprice/",
    ],
)
def test_admin_pages_open(browser, url):
    InvoiceLineFactory()
    assert browser.get(url).status_code == 200


def test_non_staff_cannot_open_admin():
    c = Client()
    c.force_login(hospital_user(HospitalFactory()))
    assert c.get("/admin/parties/hospital/").status_code == 302
    assert Hospital.objects.exists()
