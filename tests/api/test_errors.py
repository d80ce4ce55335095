"""Every API error comes out as {"code","detail","fields"} (interchange.api.errors)."""

import pytest
from django.urls import path
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from interchange.api.errors import MSG_INVALID, Conflict, error_body
from parties.api.permissions import MSG_ROLE_FORBIDDEN, role_permission
from parties.models import Role, SecurityEvent
from tests.factories import HospitalFactory, UserFactory, hospital_user

pytestmark = pytest.mark.django_db

SHAPE = {"code", "detail", "fields"}


class QtySerializer(serializers.Serializer):
    qty = serializers.IntegerField(min_value=1)
    reason = serializers.CharField()

    def validate(self, attrs):
        if attrs["reason"] == "both":
            raise serializers.ValidationError("整体不成立 / not valid as a whole", code="whole")
        return attrs


class Validating(APIView):
    def post(self, request):
        QtySerializer(data=request.data).is_valid(raise_exception=True)
        return Response({"ok": True})


class Conflicting(APIView):
    def post(self, request):
        raise Conflict("批次已审核 / the batch is already approved")


class AlwaysThrottled(BaseThrottle):
    def allow_request(self, request, view):
        return False

    def wait(self):
        return 30


class Throttled(APIView):
    throttle_classes = [AlwaysThrottled]

    def get(self, request):
        return Response({})


class HospitalOnly(APIView):
    permission_classes = [role_permission(Role.HOSPITAL)]

    def get(self, request):
        return Response({"ok": True})


class ListError(APIView):
    def post(self, request):
        raise serializers.ValidationError(["第一 / first", "第二 / second"], code="bad_rows")


urlpatterns = [
    path("t/validate/", Validating.as_view()),
    path("t/conflict/", Conflicting.as_view()),
    path("t/throttled/", Throttled.as_view()),
    path("t/hospital-only/", HospitalOnly.as_view()),
    path("t/list-error/", ListError.as_view()),
]


@pytest.fixture
def user():
    return hospital_user(HospitalFactory())


@pytest.fixture
def client(api, user, settings):
    settings.ROOT_URLCONF = "tests.api.test_errors"
    return api(user)


def test_400_validation_names_the_fields(client):
    response = client.post("/t/validate/", {"qty": 0}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == SHAPE
    assert body["detail"] == str(MSG_INVALID)
    assert set(body["fields"]) == {"qty", "reason"}
    assert body["code"] == "invalid"  # two different codes (min_value, required)


def test_400_one_kind_of_error_keeps_its_code(client):
    body = client.post("/t/validate/", {"qty": 3}, format="json").json()
    assert body["code"] == "required" and list(body["fields"]) == ["reason"]


def test_400_non_field_error_becomes_the_detail(client):
    body = client.post("/t/validate/", {"qty": 3, "reason": "both"}, format="json").json()
    assert body == {"code": "whole", "detail": "整体不成立 / not valid as a whole", "fields": {}}


def test_400_list_error(client):
    body = client.post("/t/list-error/", {}, format="json").json()
    assert body == {"code": "bad_rows", "detail": "第一 / first 第二 / second", "fields": {}}


def test_401_without_credentials(api, settings):
    settings.ROOT_URLCONF = "tests.api.test_errors"
    response = api().post("/t/validate/", {}, format="json")
    assert response.status_code == 401
    assert set(response.json()) == SHAPE and response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_401_bad_token(api):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"


def test_403_role_refusal_is_shaped_and_recorded(api, settings):
    settings.ROOT_URLCONF = "tests.api.test_errors"
    admin_user = UserFactory(role=Role.ADMIN)  # an admin (not superuser) does not hold the hospital role
    hospital = hospital_user(HospitalFactory())
    assert api(hospital).get("/t/hospital-only/").status_code == 200
    response = api(admin_user).get("/t/hospital-only/")
    assert response.status_code == 403
    assert response.json() == {"code": "role_forbidden", "detail": MSG_ROLE_FORBIDDEN, "fields": {}}
    events = SecurityEvent.objects.filter(kind="forbidden")
    assert events.count() == 1  # by the handler, not twice (the middleware skips it)
    assert events.get().user == admin_user and events.get().path == "/t/hospital-only/"


def test_404_unknown_key(client, settings):
    settings.ROOT_URLCONF = "config.urls"
    response = client.get("/api/v1/orders/NOPE/1/")
    assert response.status_code == 404 and set(response.json()) == SHAPE


def test_405(client):
    response = client.get("/t/validate/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed" and response.json()["fields"] == {}


def test_409_conflict(client):
    response = client.post("/t/conflict/", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {"code": "conflict", "detail": "批次已审核 / the batch is already approved", "fields": {}}


def test_429_throttled_keeps_retry_after(client):
    response = client.get("/t/throttled/")
    assert response.status_code == 429
    assert set(response.json()) == SHAPE and response.json()["code"] == "throttled"
    assert response["Retry-After"] == "30"


def test_415_unsupported_media_type(client):
    response = client.generic("POST", "/t/validate/", "qty=1", content_type="text/plain")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"detail": exceptions.ErrorDetail("x", code="c")}, {"code": "c", "detail": "x", "fields": {}}),
        ("plain", {"code": "error", "detail": "plain", "fields": {}}),
        ([], {"code": "invalid", "detail": str(MSG_INVALID), "fields": {}}),
    ],
)
def test_error_body_edge_cases(data, expected):
    assert error_body(data) == expected


def test_api_not_found_view_answers_in_the_shape(rf):
    from interchange.api.errors import MSG_NO_ENDPOINT, api_not_found

    response = api_not_found(rf.get("/api/v1/nope/"))
    assert response.status_code == 404
    import json

    assert json.loads(response.content) == {"code": "not_found", "detail": str(MSG_NO_ENDPOINT), "fields": {}}
