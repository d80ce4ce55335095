"""Login (page and API token), throttling with django-axes, CSRF, and the security log."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from parties.models import SecurityEvent
from parties.services.security import KIND_FORBIDDEN, KIND_LOCKED_OUT, KIND_LOGIN_FAILED
from parties.web.views import LOCKED_OUT_CODE, MSG_LOCKED_OUT
from tests.factories import HospitalFactory, hospital_user

pytestmark = pytest.mark.django_db

PASSWORD = "pass-for-tests-1"  # tests.factories.UserFactory
LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def user():
    return hospital_user(HospitalFactory(), username="nurse")


def test_login_page_renders_in_chinese_with_csrf_token(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    body = response.content.decode()
    assert "登录" in body and "csrfmiddlewaretoken" in body


def test_right_password_logs_in_and_lands_on_home(client, user):
    response = client.post(LOGIN, {"username": "nurse", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_password_shows_the_form_again_and_is_logged(client, user):
    response = client.post(LOGIN, {"username": "nurse", "password": "wrong"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
    event = SecurityEvent.objects.get(kind=KIND_LOGIN_FAILED)
    assert event.detail == "username=nurse" and event.path == LOGIN


def test_sixth_attempt_is_refused_even_with_the_right_password(client, user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    # given five failed logins from one IP
    answers = [client.post(LOGIN, {"username": "nurse", "password": f"wrong{i}"}).status_code for i in range(5)]
    # then the first four show the form again and the fifth locks the account out
    assert answers == [200, 200, 200, 200, 429]
    # when the right password is tried
    response = client.post(LOGIN, {"username": "nurse", "password": PASSWORD})
    # then it is refused with the bilingual lockout page, and nobody is logged in
    assert response.status_code == 429
    assert str(MSG_LOCKED_OUT) in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still sent to the login page
    assert SecurityEvent.objects.filter(kind=KIND_LOCKED_OUT).exists()
    assert SecurityEvent.objects.filter(kind=KIND_LOGIN_FAILED).count() == 6


def test_lockout_is_per_username_and_ip(client, user):
    other = hospital_user(user.hospital, username="doctor")
    for i in range(5):
        client.post(LOGIN, {"username": "nurse", "password": f"wrong{i}"})
    # another user from the same IP may still log in
    response = client.post(LOGIN, {"username": other.username, "password": PASSWORD})
    assert response.status_code == 302


def test_token_endpoint_gives_a_token_that_authenticates(client, user):
    response = client.post(TOKEN, {"username": "nurse", "password": PASSWORD}, content_type="application/json")
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(key=key).user == user
    me = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}")
    assert me.status_code == 200 and me.json()["username"] == "nurse"


def test_token_endpoint_wrong_password_is_400_in_the_error_shape(client, user):
    response = client.post(TOKEN, {"username": "nurse", "password": "nope"}, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    assert body["code"] == "authorization"


def test_token_endpoint_is_throttled_too(client, user):
    # given five failures through the API
    codes = [
        client.post(TOKEN, {"username": "nurse", "password": f"x{i}"}, content_type="application/json").status_code
        for i in range(5)
    ]
    assert codes == [400, 400, 400, 400, 429]
    # when the right password is sent
    response = client.post(TOKEN, {"username": "nurse", "password": PASSWORD}, content_type="application/json")
    # then it is refused in the API's error shape, and no token was issued
    assert response.status_code == 429
    assert response.json() == {"code": LOCKED_OUT_CODE, "detail": str(MSG_LOCKED_OUT), "fields": {}}
    assert not Token.objects.filter(user=user).exists()


def test_login_page_locks_the_api_too(client, user):
    # the lockout is per username + IP, whichever door was knocked on
    for i in range(5):
        client.post(LOGIN, {"username": "nurse", "password": f"wrong{i}"})
    response = client.post(TOKEN, {"username": "nurse", "password": PASSWORD}, content_type="application/json")
    assert response.status_code == 429


def test_page_post_without_csrf_token_is_403_and_logged(user):
    # given a logged-in browser that enforces CSRF
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    # when it posts a page form without the token
    response = browser.post("/accounts/logout/")
    # then it is refused and recorded
    assert response.status_code == 403
    assert "_auth_user_id" in browser.session  # still logged in
    event = SecurityEvent.objects.get(kind=KIND_FORBIDDEN)
    assert event.user == user and event.path == "/accounts/logout/"


def test_page_post_with_csrf_token_works(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/")
    token = page.context["csrf_token"]
    response = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert "_auth_user_id" not in browser.session


def test_api_session_post_without_csrf_is_403_in_the_error_shape(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/api/v1/auth/token/", {}, content_type="application/json")  # no session auth there
    assert response.status_code != 403  # the token endpoint takes no session: CSRF does not apply
    response = browser.post("/api/v1/me/", {}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "CSRF" in response.json()["detail"]
    assert SecurityEvent.objects.filter(kind=KIND_FORBIDDEN, user=user, path="/api/v1/me/").count() == 1


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
