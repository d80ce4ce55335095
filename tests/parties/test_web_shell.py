"""The web shell: home per role with its menu, language switch, notification slot, logout."""

import sys
import types

import pytest
from django.test import Client

from parties.models import Role
from parties.web import context as shell_context
from parties.web import navigation
from parties.web.views import ROLE_CARDS
from tests.factories import (
    BureauFactory,
    EnterpriseFactory,
    HospitalFactory,
    UserFactory,
    bureau_user,
    enterprise_user,
    hospital_user,
)

pytestmark = pytest.mark.django_db


def make_user(role: str):
    if role == Role.HOSPITAL:
        return hospital_user(HospitalFactory())
    if role == Role.ENTERPRISE:
        return enterprise_user(EnterpriseFactory())
    if role == Role.ADMIN:
        return UserFactory(role=Role.ADMIN, is_staff=True)
    return bureau_user(BureauFactory(), role=role)


def logged_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.mark.parametrize("role", Role.values)
def test_home_renders_the_roles_cards_and_menu(role):
    # given a user of the role
    user = make_user(role)
    # when the home page is opened
    response = logged_in(user).get("/")
    # then it shows the role, each of its cards, and its menu in the nav
    assert response.status_code == 200
    body = response.content.decode()
    assert str(user.get_role_display()) in body
    for title, _text in ROLE_CARDS[role]:
        assert str(title) in body
    assert '<nav class="menu"' in body and 'href="/"' in body
    assert [item["name"] for item in response.context["nav_menu"]()] == [
        name for name, _label, roles in navigation.MENU if role in roles and resolvable(name)
    ]


def test_admin_menu_links_to_django_admin_only_for_admins():
    admin_page = logged_in(make_user(Role.ADMIN)).get("/").content.decode()
    hospital_page = logged_in(make_user(Role.HOSPITAL)).get("/").content.decode()
    assert 'href="/admin/"' in admin_page
    assert 'href="/admin/"' not in hospital_page


def test_menu_entries_of_other_features_appear_for_their_roles_only(monkeypatch):
    # given a feature that appended a page for hospitals (its url name resolves) and one not built yet
    monkeypatch.setattr(
        navigation,
        "MENU",
        [*navigation.MENU, ("login", "验收入库", (Role.HOSPITAL,)), ("no-such-page", "未来", (Role.HOSPITAL,))],
    )
    hospital = [i["name"] for i in navigation.menu_for(make_user(Role.HOSPITAL))]
    enterprise = [i["name"] for i in navigation.menu_for(make_user(Role.ENTERPRISE))]
    assert hospital[0] == "home" and hospital[-1] == "login"  # menu order is MENU order
    assert "no-such-page" not in hospital  # not resolvable yet: skipped
    assert "login" not in enterprise


def resolvable(name: str) -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def test_superuser_sees_every_menu_entry():
    root = UserFactory(role=Role.ADMIN, is_superuser=True, is_staff=True)
    expected = {name for name, _label, _roles in navigation.MENU if resolvable(name)}
    assert {i["name"] for i in navigation.menu_for(root)} == expected
    assert {"home", "admin:index"} <= expected


def test_language_switch_renders_english_labels(settings):
    # given a logged-in hospital user on the Chinese default
    browser = logged_in(make_user(Role.HOSPITAL))
    chinese = browser.get("/").content.decode()
    assert "首页" in chinese and "退出" in chinese and 'lang="zh-hans"' in chinese
    # when the language switch in the header is used
    response = browser.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    # then the shell speaks English, role label included
    english = browser.get("/").content.decode()
    assert 'lang="en"' in english
    for label in ("Home", "Log out", "Menu", "Agreement progress", "hospital user"):
        assert label in english
    assert "退出" not in english
    # and switching back restores Chinese
    browser.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "退出" in browser.get("/").content.decode()


def test_login_page_in_english():
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/")
    body = response.content.decode()
    assert "Log in" in body and "Username" in body and "Password" in body


def test_notification_count_is_zero_without_the_alerts_module(monkeypatch):
    monkeypatch.setitem(sys.modules, shell_context.NOTIFICATIONS_MODULE, None)  # import → ModuleNotFoundError
    shell_context._unread_count_function.cache_clear()
    try:
        body = logged_in(make_user(Role.HOSPITAL)).get("/").content.decode()
    finally:
        shell_context._unread_count_function.cache_clear()
    assert 'data-unread="0"' in body
    assert 'class="badge"' not in body


def test_notification_count_comes_from_the_alerts_selector(monkeypatch):
    # given an alerts feature that provides unread_count(user)
    module = types.ModuleType(shell_context.NOTIFICATIONS_MODULE)
    seen = []
    module.unread_count = lambda user: seen.append(user.pk) or 3
    monkeypatch.setitem(sys.modules, shell_context.NOTIFICATIONS_MODULE, module)
    shell_context._unread_count_function.cache_clear()
    user = make_user(Role.HOSPITAL)
    try:
        body = logged_in(user).get("/").content.decode()
    finally:
        shell_context._unread_count_function.cache_clear()
    # then the header shows its count, computed once for the page
    assert 'data-unread="3"' in body and '<b class="badge">3</b>' in body
    assert seen == [user.pk]


def test_anonymous_pages_have_no_menu_and_no_count():
    body = Client().get("/accounts/login/").content.decode()
    assert '<nav class="menu"' not in body and "data-unread" not in body
