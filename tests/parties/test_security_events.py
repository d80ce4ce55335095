"""Refused authorisations on pages are recorded: 403 by role (middleware), 404 by scope."""

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path

from parties import scoping
from parties.models import Role, SecurityEvent
from parties.web.access import role_required, scoped_object_or_404
from procurement.models import OrderLine
from tests.parties.world import build_world

pytestmark = pytest.mark.django_db


@role_required(Role.HOSPITAL)
def hospital_page(request):
    return HttpResponse("ok")


def order_page(request, pk):
    line = scoped_object_or_404(request, OrderLine.objects.all(), scoping.ORDER_LINE, pk=pk)
    return HttpResponse(line.order_no)


urlpatterns = [
    path("t/hospital/", hospital_page),
    path("t/orders/<int:pk>/", order_page),
    path("", include("config.urls")),
]


@pytest.fixture
def world(settings):
    settings.ROOT_URLCONF = "tests.parties.test_security_events"
    return build_world()


def browser(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_page_refused_by_role_is_403_and_recorded(world):
    assert browser(world.users["hospital_a"]).get("/t/hospital/").status_code == 200
    distributor = world.users["distributor_a"]
    response = browser(distributor).get("/t/hospital/")
    assert response.status_code == 403
    event = SecurityEvent.objects.get()
    assert (event.kind, event.user, event.path) == ("forbidden", distributor, "/t/hospital/")


def test_superuser_passes_every_role_check(world):
    assert browser(world.users["superuser"]).get("/t/hospital/").status_code == 200


def test_anonymous_is_sent_to_login_not_refused(world):
    response = Client().get("/t/hospital/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not SecurityEvent.objects.exists()


def test_page_for_another_partys_record_is_404_and_recorded(world):
    user = world.users["hospital_a"]
    own, other = world.rows["order_a"], world.rows["order_b"]
    assert browser(user).get(f"/t/orders/{own.pk}/").content.decode() == own.order_no
    assert browser(user).get(f"/t/orders/{other.pk}/").status_code == 404
    assert browser(user).get("/t/orders/999999/").status_code == 404
    events = list(SecurityEvent.objects.values_list("kind", "path"))
    assert events == [("not_found_scope", f"/t/orders/{other.pk}/")]


def test_security_log_line_is_written(world, caplog):
    with caplog.at_level("WARNING", logger="security"):
        browser(world.users["distributor_a"]).get("/t/hospital/")
    assert any("kind=forbidden" in r.getMessage() and "dist_a" in r.getMessage() for r in caplog.records)
