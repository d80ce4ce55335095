"""interchange.api.viewsets: the shared base for scoped read-only endpoints."""

import datetime as dt

import pytest
from django.test import Client

from interchange.api.filters import DATE, ListFilter, parse_filters
from interchange.api.viewsets import IsoDateConverter, ScopedReadOnlyViewSet, read_routes
from parties.api.read_views import RegionViewSet
from tests.factories import RegionFactory, UserFactory

pytestmark = pytest.mark.django_db

urlpatterns = [
    *read_routes("regions", RegionViewSet, writes_in="tests.api.fallthrough_writes"),
    *read_routes("plain", RegionViewSet, name="plain-regions", writes_in="tests.api.fallthrough_writes"),
]


@pytest.fixture
def client(api, settings):
    settings.ROOT_URLCONF = "tests.api.test_viewsets"
    return api(UserFactory())


def test_collection_reads_here_and_writes_fall_through(client):
    RegionFactory(code="370000")
    assert client.get("/regions/").json()["count"] == 1
    response = client.post("/regions/", {"name": "x"}, format="json")
    assert response.status_code == 201 and response.json() == {"created": "x"}


def test_detail_keeps_405_for_writes(client):
    RegionFactory(code="370000")
    assert client.get("/regions/370000/").json()["region_code"] == "370000"
    assert client.post("/regions/370000/", {}, format="json").status_code == 405


def test_fall_through_to_a_plain_view_still_checks_csrf(settings):
    settings.ROOT_URLCONF = "tests.api.test_viewsets"
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory())
    assert browser.post("/plain/", {}).status_code == 403
    token_client = Client()
    token_client.force_login(UserFactory(username="other"))
    assert token_client.post("/plain/", {}).status_code == 201  # CSRF not enforced for this client


def test_iso_date_converter_refuses_impossible_dates():
    conv = IsoDateConverter()
    assert conv.to_python("2026-02-28") == dt.date(2026, 2, 28)
    with pytest.raises(ValueError):
        conv.to_python("2026-02-30")
    assert conv.to_url(dt.date(2026, 1, 1)) == "2026-01-01"


def test_impossible_date_in_a_detail_url_is_404(world, api):
    client = api(world.users["admin"])
    agreement = world.rows["agreement_a"]
    url = f"/api/v1/agreements/{agreement.round.code}/{agreement.hospital_id}/{agreement.product_id}/2026-02-30/"
    assert client.get(url).status_code == 404


def test_abstract_subclass_without_queryset_is_allowed():
    class Base(ScopedReadOnlyViewSet):
        ordering = ("pk",)

    assert Base.queryset is None


def test_parse_filters_collects_every_bad_parameter():
    from rest_framework.exceptions import ValidationError

    filters = (ListFilter("a", "x", kind=DATE), ListFilter("b", "y", kind=DATE))
    with pytest.raises(ValidationError) as exc:
        parse_filters({"a": "nope", "b": "also"}, filters)
    assert set(exc.value.detail) == {"a", "b"}
    assert parse_filters({"a": "2026-01-01", "page": "2"}, filters).children == [("x", dt.date(2026, 1, 1))]
