"""manage.py create_user: a user in its organisation; bureaus created for a region on the fly."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from parties.models import Bureau, Role, User
from parties.services import users as user_services
from tests.factories import EnterpriseFactory, HospitalFactory, RegionFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Jicai-demo-2026!"


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_user", *args, stdout=out)
    return out.getvalue()


def test_hospital_user_belongs_to_its_hospital_and_can_log_in(client):
    # given a hospital
    hospital = HospitalFactory()
    # when an operator creates a hospital user for it
    output = run("wang", "--role", "hospital", "--hospital", hospital.code, "--password", PASSWORD)
    # then the user is tied to that hospital, is not staff, and can log in
    user = User.objects.get(username="wang")
    assert (user.role, user.hospital_id, user.enterprise_id, user.bureau_id) == ("hospital", hospital.code, None, None)
    assert not user.is_staff
    assert "created wang" in output
    response = client.post("/accounts/login/", {"username": "wang", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_enterprise_user():
    enterprise = EnterpriseFactory()
    run("li", "--role", "enterprise", "--enterprise", enterprise.credit_code, "--password", PASSWORD)
    assert User.objects.get(username="li").enterprise_id == enterprise.credit_code


def test_bureau_is_created_for_a_region_once():
    # given a region without a bureau
    region = RegionFactory(code="371000", name="威海市")
    assert not Bureau.objects.filter(region=region).exists()
    # when two bureau users are created for it
    run("op", "--role", "bureau_operator", "--region", "371000", "--password", PASSWORD)
    run("ap", "--role", "bureau_approver", "--region", "371000", "--password", PASSWORD)
    # then one bureau, named after the region, holds both
    bureau = Bureau.objects.get(region=region)
    assert bureau.name == "威海市医疗保障局"
    assert set(bureau.users.values_list("username", flat=True)) == {"op", "ap"}


def test_admin_is_staff_and_generated_password_is_printed():
    output = run("boss", "--role", "admin")
    user = User.objects.get(username="boss")
    assert user.is_staff and not user.is_superuser
    generated = output.split("password: ")[1].strip()
    assert user.check_password(generated)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--role", "hospital"], user_services.MSG_ORGANISATION_REQUIRED),
        (["x", "--role", "hospital", "--hospital", "H99999900001"], user_services.MSG_UNKNOWN_HOSPITAL),
        (["x", "--role", "enterprise", "--enterprise", "91370000000000000X"], user_services.MSG_UNKNOWN_ENTERPRISE),
        (["x", "--role", "price_analyst", "--region", "999999"], user_services.MSG_UNKNOWN_REGION),
        (["x", "--role", "admin", "--region", "371000"], user_services.MSG_ORGANISATION_NOT_ALLOWED),
    ],
)
def test_bad_input_exits_with_one_line_reason_and_creates_nothing(args, message):
    RegionFactory(code="371000")
    with pytest.raises(CommandError) as exc:
        run(*args, "--password", PASSWORD)
    assert str(message) in str(exc.value)
    assert "\n" not in str(exc.value)
    assert not User.objects.filter(username="x").exists()


def test_taken_username_and_weak_password_are_refused():
    run("dup", "--role", "admin", "--password", PASSWORD)
    with pytest.raises(CommandError, match="username"):
        run("dup", "--role", "admin", "--password", PASSWORD)
    with pytest.raises(CommandError, match="password"):
        run("weak", "--role", "admin", "--password", "123")
    assert not User.objects.filter(username="weak").exists()


def test_service_refuses_role_and_organisation_mismatch():
    hospital = HospitalFactory()
    with pytest.raises(ValidationError) as exc:
        user_services.user_create(username="m", role=Role.ENTERPRISE, password=None, hospital_code=hospital.code)
    assert "hospital" in exc.value.message_dict


def test_model_clean_mirrors_the_database_constraint():
    hospital = HospitalFactory()
    user = User(username="c", role=Role.ENTERPRISE, hospital=hospital)
    with pytest.raises(ValidationError) as exc:
        user.clean()
    assert set(exc.value.message_dict) == {"enterprise", "hospital"}
