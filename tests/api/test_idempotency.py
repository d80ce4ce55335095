"""Idempotency-Key replay (interchange.api.idempotency)."""

import pytest
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interchange.api.idempotency import CODE_CONFLICT, CODE_KEY_INVALID, MAX_KEY_LENGTH, REPLAY_HEADER, idempotent
from interchange.models import IdempotencyRecord
from parties.models import Region
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class CreateRegion(APIView):
    """A stand-in for a POST that creates: one Region (the side effect) per call."""

    calls = 0

    @idempotent
    def post(self, request):
        CreateRegion.calls += 1
        code = request.data.get("code")
        if code == "400000":
            raise serializers.ValidationError({"code": ["保留代码 / reserved"]})
        if code == "500000":
            Region.objects.create(code=code, name="x")
            return Response({"detail": "boom"}, status=503)
        region = Region.objects.create(code=code, name=request.data.get("name", ""))
        return Response({"code": region.code, "n": Region.objects.count()}, status=201)


class Other(APIView):
    @idempotent
    def post(self, request):
        return Response({"other": True}, status=201)


urlpatterns = [path("t/regions/", CreateRegion.as_view()), path("t/other/", Other.as_view())]


@pytest.fixture
def client(api, settings):
    settings.ROOT_URLCONF = "tests.api.test_idempotency"
    CreateRegion.calls = 0
    return api(UserFactory())


def post(client, body, key="k-1", url="/t/regions/"):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_same_body_replays_without_repeating_the_side_effect(client):
    # given a first POST with a key
    first = post(client, {"code": "371000", "name": "威海"})
    assert first.status_code == 201
    # when the same request is sent again with the same key
    second = post(client, {"code": "371000", "name": "威海"})
    # then the first answer comes back, marked as a replay, and nothing new was created
    assert second.status_code == 201
    assert second.json() == first.json() == {"code": "371000", "n": 1}
    assert second[REPLAY_HEADER] == "true"
    assert CreateRegion.calls == 1
    assert Region.objects.count() == 1


def test_same_key_different_body_is_409(client):
    post(client, {"code": "371000", "name": "威海"})
    response = post(client, {"code": "371100", "name": "日照"})
    assert response.status_code == 409
    assert response.json()["code"] == CODE_CONFLICT and set(response.json()) == {"code", "detail", "fields"}
    assert Region.objects.count() == 1


def test_same_key_other_endpoint_is_409(client):
    post(client, {"code": "371000"})
    assert post(client, {"code": "371000"}, url="/t/other/").status_code == 409


def test_keys_are_per_user(client, api):
    post(client, {"code": "371000"})
    other_user = api(UserFactory())
    response = post(other_user, {"code": "371100"})
    assert response.status_code == 201 and Region.objects.count() == 2


def test_without_a_key_every_call_runs(client):
    client.post("/t/regions/", {"code": "371000"}, format="json")
    response = client.post("/t/regions/", {"code": "371100"}, format="json")
    assert response.status_code == 201 and CreateRegion.calls == 2
    assert not IdempotencyRecord.objects.exists()


def test_a_4xx_raised_by_the_view_is_remembered_and_replayed(client):
    first = post(client, {"code": "400000"})
    assert first.status_code == 400 and set(first.json()) == {"code", "detail", "fields"}
    again = post(client, {"code": "400000"})
    assert again.status_code == 400 and again.json() == first.json()
    assert CreateRegion.calls == 1


def test_a_5xx_is_not_remembered_and_its_writes_roll_back(client):
    first = post(client, {"code": "500000"})
    assert first.status_code == 503
    assert not IdempotencyRecord.objects.exists()
    assert not Region.objects.filter(code="500000").exists()  # the view's write rolled back with it
    post(client, {"code": "500000"})
    assert CreateRegion.calls == 2  # the key may be retried


def test_too_long_key_is_400(client):
    response = post(client, {"code": "371000"}, key="x" * (MAX_KEY_LENGTH + 1))
    assert response.status_code == 400 and response.json()["code"] == CODE_KEY_INVALID
    assert CreateRegion.calls == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_twins_run_the_side_effect_once(api, settings):
    """Two threads, two connections, same key at once: one creates, the other replays."""
    import threading

    from django.db import connection

    settings.ROOT_URLCONF = "tests.api.test_idempotency"
    CreateRegion.calls = 0
    user = UserFactory()
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            client = api(user)
            barrier.wait()
            results.append(post(client, {"code": "371000"}, key="twin"))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [201, 201]
    assert Region.objects.filter(code="371000").count() == 1
    assert CreateRegion.calls == 1
    assert sum(1 for r in results if r.get(REPLAY_HEADER) == "true") == 1
