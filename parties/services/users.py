"""Creating users with their organisation (the ``create_user`` command and the demo use this)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from parties.models import ROLE_ORGANISATION_FIELD, Bureau, Enterprise, Hospital, Region, Role, User

MSG_USER_EXISTS = _("用户名已存在 / the username is taken")
MSG_UNKNOWN_ROLE = _("未知角色 / unknown role")
MSG_UNKNOWN_HOSPITAL = _("未知医疗机构编码 / unknown hospital code")
MSG_UNKNOWN_ENTERPRISE = _("未知统一社会信用代码 / unknown credit code")
MSG_UNKNOWN_REGION = _("未知区划代码 / unknown region code")
MSG_ORGANISATION_REQUIRED = _("该角色须指定所属机构 / this role needs its organisation")
MSG_ORGANISATION_NOT_ALLOWED = _("该角色不属于此类机构 / this role does not belong to that kind of organisation")


def bureau_for_region(*, region: Region) -> Bureau:
    """The region's bureau, created on the fly (named after the region) when missing."""
    bureau, _created = Bureau.objects.get_or_create(region=region, defaults={"name": f"{region.name}医疗保障局"})
    return bureau


@transaction.atomic
def user_create(
    *,
    username: str,
    role: str,
    password: str | None,
    hospital_code: str | None = None,
    enterprise_code: str | None = None,
    region_code: str | None = None,
    email: str = "",
    full_name: str = "",
    superuser: bool = False,
) -> User:
    """A user of ``role`` in the organisation given by exactly the code its role needs.

    Bureau roles name a region (``region_code``); its bureau is created when missing.
    ``password`` None leaves the account without a usable password. Admins are staff.
    Raises ``ValidationError`` with the messages above.
    """
    if role not in Role.values:
        raise ValidationError({"role": MSG_UNKNOWN_ROLE})
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": MSG_USER_EXISTS})
    needed = ROLE_ORGANISATION_FIELD[Role(role)]
    given = {"hospital": hospital_code, "enterprise": enterprise_code, "bureau": region_code}
    extra = [name for name, code in given.items() if code and name != needed]
    if extra:
        raise ValidationError({extra[0]: MSG_ORGANISATION_NOT_ALLOWED})
    org = {}
    if needed is not None:
        code = given[needed]
        if not code:
            raise ValidationError({needed: MSG_ORGANISATION_REQUIRED})
        if needed == "hospital":
            org["hospital"] = Hospital.objects.filter(code=code).first()
            if org["hospital"] is None:
                raise ValidationError({"hospital": MSG_UNKNOWN_HOSPITAL})
        elif needed == "enterprise":
            org["enterprise"] = Enterprise.objects.filter(credit_code=code).first()
            if org["enterprise"] is None:
                raise ValidationError({"enterprise": MSG_UNKNOWN_ENTERPRISE})
        else:
            region = Region.objects.filter(code=code).first()
            if region is None:
                raise ValidationError({"region": MSG_UNKNOWN_REGION})
            org["bureau"] = bureau_for_region(region=region)
    first, _sep, last = full_name.partition(" ")
    user = User(
        username=username,
        role=role,
        email=email,
        first_name=first,
        last_name=last,
        is_staff=role == Role.ADMIN or superuser,
        is_superuser=superuser,
        **org,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user
