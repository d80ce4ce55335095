"""A user gets a role only by being given one: nobody becomes an admin by default."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from parties.models import Role, User
from parties.scoping import sees_everything

pytestmark = pytest.mark.django_db


def test_a_user_created_without_a_role_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("norole", password="x-Long-enough-9")
    assert not User.objects.filter(username="norole").exists()


def test_a_user_without_a_role_fails_validation_with_the_field_named():
    user = User(username="norole")
    with pytest.raises(ValidationError) as err:
        user.full_clean()
    assert "role" in err.value.message_dict


def test_create_superuser_makes_an_admin():
    user = User.objects.create_superuser("root", "root@example.cn", "x-Long-enough-9")
    assert user.role == Role.ADMIN
    assert sees_everything(user)


def test_the_createsuperuser_command_still_works(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "x-Long-enough-9")
    call_command("createsuperuser", username="ops", email="ops@example.cn", interactive=False, verbosity=0)
    assert User.objects.get(username="ops").role == Role.ADMIN
