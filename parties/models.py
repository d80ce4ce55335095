"""Regions, organisations, users and the audit log of master data.

Natural keys are primary keys here (region_code, credit_code, hospital_code): the
interchange files reference them directly, so bulk imports need no id look-ups.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from parties.identifiers import (
    validate_bank_account,
    validate_credit_code,
    validate_hospital_code,
    validate_region_code,
)


class Region(models.Model):
    """统筹区 / administrative region, GB/T 2260 code. ``prefix`` is the coverage prefix."""

    code = models.CharField(
        _("区划代码 / region code"), max_length=6, primary_key=True, validators=[validate_region_code]
    )
    name = models.CharField(_("名称 / name"), max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # Trailing "00" pairs dropped: 370000 → "37", 371000 → "3710" (INTERCHANGE.md "Region coverage").
    prefix = models.CharField(max_length=6, db_index=True, editable=False)

    class Meta:
        verbose_name = _("行政区划 / region")
        verbose_name_plural = _("行政区划 / regions")
        ordering = ["code"]

    def save(self, *args, **kwargs):
        from parties.identifiers import region_prefix

        self.prefix = region_prefix(self.code)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class EnterpriseRole(models.TextChoices):
    MANUFACTURER = "manufacturer", _("生产企业 / manufacturer")
    DISTRIBUTOR = "distributor", _("配送企业 / distributor")
    BOTH = "both", _("生产配送企业 / manufacturer and distributor")


class Enterprise(models.Model):
    """医药企业, keyed by 统一社会信用代码."""

    credit_code = models.CharField(
        _("统一社会信用代码 / credit code"), max_length=18, primary_key=True, validators=[validate_credit_code]
    )
    name = models.CharField(_("企业名称 / name"), max_length=200)
    role = models.CharField(_("企业类型 / role"), max_length=12, choices=EnterpriseRole.choices)
    bank_name = models.CharField(_("开户银行 / bank"), max_length=200, blank=True, default="")
    bank_account = models.CharField(
        _("银行账号 / bank account"), max_length=30, blank=True, default="", validators=[validate_bank_account]
    )

    class Meta:
        verbose_name = _("医药企业 / enterprise")
        verbose_name_plural = _("医药企业 / enterprises")
        ordering = ["credit_code"]
        constraints = [
            # A distributor is paid directly: it must have bank details.
            models.CheckConstraint(
                name="enterprise_distributor_has_bank",
                condition=Q(role="manufacturer") | (~Q(bank_name="") & ~Q(bank_account="")),
            ),
        ]

    @property
    def is_distributor(self) -> bool:
        return self.role in (EnterpriseRole.DISTRIBUTOR, EnterpriseRole.BOTH)

    def __str__(self) -> str:
        return self.name


class HospitalLevel(models.TextChoices):
    TERTIARY = "tertiary", _("三级 / tertiary")
    SECONDARY = "secondary", _("二级 / secondary")
    PRIMARY = "primary", _("一级及基层 / primary")


class Ownership(models.TextChoices):
    PUBLIC = "public", _("公立 / public")
    PRIVATE = "private", _("民营 / private")


class Hospital(models.Model):
    """定点医疗机构, keyed by its 12-character code (H + region code + 5 digits)."""

    code = models.CharField(
        _("医疗机构编码 / hospital code"), max_length=12, primary_key=True, validators=[validate_hospital_code]
    )
    name = models.CharField(_("医疗机构名称 / name"), max_length=200)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="hospitals", verbose_name=_("统筹区 / region")
    )
    level = models.CharField(_("医院等级 / level"), max_length=10, choices=HospitalLevel.choices)
    ownership = models.CharField(_("性质 / ownership"), max_length=8, choices=Ownership.choices)

    class Meta:
        verbose_name = _("定点医疗机构 / hospital")
        verbose_name_plural = _("定点医疗机构 / hospitals")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Bureau(models.Model):
    """医保经办机构 of one region; its staff see that region and below."""

    region = models.OneToOneField(Region, on_delete=models.PROTECT, related_name="bureau")
    name = models.CharField(_("名称 / name"), max_length=200)

    class Meta:
        verbose_name = _("医保经办机构 / bureau")
        verbose_name_plural = _("医保经办机构 / bureaus")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ENTERPRISE = "enterprise", _("企业用户 / enterprise user")
    HOSPITAL = "hospital", _("医院用户 / hospital user")
    BUREAU_OPERATOR = "bureau_operator", _("经办人员 / bureau operator")
    BUREAU_APPROVER = "bureau_approver", _("审核人员 / bureau approver")
    PRICE_ANALYST = "price_analyst", _("价格分析员 / price analyst")
    ADMIN = "admin", _("系统管理员 / admin")


BUREAU_ROLES = (Role.BUREAU_OPERATOR, Role.BUREAU_APPROVER, Role.PRICE_ANALYST)


MSG_ROLE_NEEDS_ENTERPRISE = _("企业用户须属于一个医药企业 / an enterprise user belongs to an enterprise")
MSG_ROLE_NEEDS_HOSPITAL = _("医院用户须属于一个定点医疗机构 / a hospital user belongs to a hospital")
MSG_ROLE_NEEDS_BUREAU = _("经办、审核和价格分析人员须属于一个医保经办机构 / bureau staff belong to a bureau")
MSG_ROLE_NO_ORGANISATION = _("该角色不属于任何机构 / this role belongs to no organisation")
MSG_ONE_ORGANISATION = _("用户只能属于与角色相符的一个机构 / a user belongs to the one organisation its role names")

# role → the one organisation field it needs (None: no organisation).
ROLE_ORGANISATION_FIELD = {
    Role.ENTERPRISE: "enterprise",
    Role.HOSPITAL: "hospital",
    Role.BUREAU_OPERATOR: "bureau",
    Role.BUREAU_APPROVER: "bureau",
    Role.PRICE_ANALYST: "bureau",
    Role.ADMIN: None,
}
_ROLE_NEEDS_MESSAGE = {
    "enterprise": MSG_ROLE_NEEDS_ENTERPRISE,
    "hospital": MSG_ROLE_NEEDS_HOSPITAL,
    "bureau": MSG_ROLE_NEEDS_BUREAU,
}


class UserManager(DjangoUserManager):
    """``create_superuser`` makes an admin; every other user must be given a role explicitly."""

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person; belongs to exactly one organisation, matching the role.

    The role has no default: a user created without one fails the ``user_org_matches_role``
    constraint instead of silently becoming an admin who sees everything."""

    role = models.CharField(_("角色 / role"), max_length=20, choices=Role.choices)
    enterprise = models.ForeignKey(Enterprise, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    hospital = models.ForeignKey(Hospital, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    bureau = models.ForeignKey(Bureau, null=True, blank=True, on_delete=models.PROTECT, related_name="users")

    objects = UserManager()

    class Meta:
        verbose_name = _("用户 / user")
        verbose_name_plural = _("用户 / users")
        constraints = [
            models.CheckConstraint(
                name="user_org_matches_role",
                condition=(
                    Q(role="enterprise", enterprise__isnull=False, hospital__isnull=True, bureau__isnull=True)
                    | Q(role="hospital", hospital__isnull=False, enterprise__isnull=True, bureau__isnull=True)
                    | Q(
                        role__in=["bureau_operator", "bureau_approver", "price_analyst"],
                        bureau__isnull=False,
                        enterprise__isnull=True,
                        hospital__isnull=True,
                    )
                    | Q(role="admin", enterprise__isnull=True, hospital__isnull=True, bureau__isnull=True)
                ),
            ),
        ]

    def clean(self):
        """The database constraint ``user_org_matches_role``, as form errors."""
        from django.core.exceptions import ValidationError

        super().clean()
        needed = ROLE_ORGANISATION_FIELD.get(self.role)
        errors = {}
        for name in ("enterprise", "hospital", "bureau"):
            has = getattr(self, f"{name}_id") is not None
            if name == needed and not has:
                errors[name] = _ROLE_NEEDS_MESSAGE[name]
            elif name != needed and has:
                errors[name] = MSG_ROLE_NO_ORGANISATION if needed is None else MSG_ONE_ORGANISATION
        if errors:
            raise ValidationError(errors)

    @property
    def organisation(self) -> Enterprise | Hospital | Bureau | None:
        """The enterprise, hospital or bureau the user belongs to (None for admins)."""
        return self.enterprise or self.hospital or self.bureau

    @property
    def organisation_kind(self) -> str | None:
        """ "enterprise", "hospital", "bureau" or None."""
        return ROLE_ORGANISATION_FIELD.get(self.role)


class AuditEntry(models.Model):
    """Who changed master data (or a setting), when, and what: field → [old, new]."""

    class Action(models.TextChoices):
        CREATE = "create", _("新增 / create")
        UPDATE = "update", _("修改 / update")
        DELETE = "delete", _("删除 / delete")

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=200, blank=True, default="")  # e.g. "import:hospitals.csv", "admin"
    model = models.CharField(max_length=100)
    object_key = models.CharField(max_length=200)
    action = models.CharField(max_length=8, choices=Action.choices)
    changes = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("审计记录 / audit entry")
        verbose_name_plural = _("审计记录 / audit entries")
        indexes = [models.Index(fields=["model", "object_key"])]
        ordering = ["-at", "-id"]


class SecurityEvent(models.Model):
    """A refused authorisation: who tried what, for the security log and for review."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=40)  # e.g. "forbidden", "not_found_scope", "login_failed"
    path = models.CharField(max_length=500, blank=True, default="")
    detail = models.CharField(max_length=500, blank=True, default="")
