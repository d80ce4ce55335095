import pytest

from tests.e2e.conftest import login
from tests.factories import HospitalFactory, hospital_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_hospital_user_logs_in_and_sees_their_home(page, shot, live_server):
    # given a hospital user
    hospital = HospitalFactory(name="威海市立医院")
    hospital_user(hospital, username="hosp1")
    # when they log in through the real login page
    login(page, "hosp1", "pass-for-tests-1")
    shot(page, "login-hospital-home")
    # then they land on their home page, in Chinese, with their role shown
    assert page.url == f"{live_server.url}/"
    assert "医院用户" in page.content()


def test_wrong_password_is_refused(page):
    hospital_user(HospitalFactory(), username="hosp2")
    login(page, "hosp2", "wrong-password")
    assert "/accounts/login/" in page.url
    assert "用户名或密码错误" in page.content()
