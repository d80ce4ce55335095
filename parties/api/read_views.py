"""Master data of parties: regions, enterprises, hospitals (read; every signed-in user).

These are published reference data (GB/T 2260 regions, the enterprise and 定点医疗机构
lists), so they are not scoped; an enterprise's bank details are shown only to the
enterprise itself, bureau staff and admins (parties.scoping.may_see_bank_details).
"""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from interchange.api.filters import CHOICE, REGION, ListFilter
from interchange.api.viewsets import KeyField, ScopedReadOnlyViewSet
from parties.models import Enterprise, EnterpriseRole, Hospital, HospitalLevel, Ownership, Region
from parties.scoping import may_see_bank_details


def _name_contains(*paths):
    def q(value):
        out = Q()
        for p in paths:
            out |= Q(**{f"{p}__icontains": value})
        return out

    return q


class RegionSerializer(serializers.ModelSerializer):
    region_code = serializers.CharField(source="code")
    parent_code = serializers.CharField(source="parent_id", allow_null=True)

    class Meta:
        model = Region
        fields = ["region_code", "name", "parent_code", "prefix"]


class EnterpriseSerializer(serializers.ModelSerializer):
    bank_name = serializers.SerializerMethodField()
    bank_account = serializers.SerializerMethodField()

    class Meta:
        model = Enterprise
        fields = ["credit_code", "name", "role", "bank_name", "bank_account"]

    def _bank(self, obj, attr) -> str | None:
        request = self.context.get("request")
        if request is not None and may_see_bank_details(request.user, obj.credit_code):
            return getattr(obj, attr)
        return None

    def get_bank_name(self, obj) -> str | None:
        """开户银行；仅企业本身、经办机构和管理员可见 / visible to the enterprise, bureaus and admins"""
        return self._bank(obj, "bank_name")

    def get_bank_account(self, obj) -> str | None:
        """银行账号；仅企业本身、经办机构和管理员可见 / visible to the enterprise, bureaus and admins"""
        return self._bank(obj, "bank_account")


class HospitalSerializer(serializers.ModelSerializer):
    hospital_code = serializers.CharField(source="code")
    region_code = serializers.CharField(source="region_id")

    class Meta:
        model = Hospital
        fields = ["hospital_code", "name", "region_code", "level", "ownership"]


@extend_schema(tags=["master data / 主数据"])
class RegionViewSet(ScopedReadOnlyViewSet):
    """行政区划 / regions (GB/T 2260)."""

    queryset = Region.objects.all()
    serializer_class = RegionSerializer
    key_fields = (KeyField("region_code", "code", help="区划代码 / region code"),)
    list_filters = (
        ListFilter("parent", "parent_id", help="上级区划代码 / parent region code"),
        ListFilter("within", "code", kind=REGION, help="该区划及其下级 / this region and below"),
        ListFilter("q", q=_name_contains("name"), help="名称包含 / name contains"),
    )
    ordering = ("code",)


@extend_schema(tags=["master data / 主数据"])
class EnterpriseViewSet(ScopedReadOnlyViewSet):
    """医药企业 / enterprises."""

    queryset = Enterprise.objects.all()
    serializer_class = EnterpriseSerializer
    key_fields = (KeyField("credit_code", help="统一社会信用代码 / credit code"),)
    list_filters = (
        ListFilter("role", "role", kind=CHOICE, choices=tuple(EnterpriseRole.values), help="企业类型 / role"),
        ListFilter("q", q=_name_contains("name", "credit_code"), help="名称或代码包含 / name or code contains"),
    )
    ordering = ("credit_code",)


@extend_schema(tags=["master data / 主数据"])
class HospitalViewSet(ScopedReadOnlyViewSet):
    """定点医疗机构 / hospitals."""

    queryset = Hospital.objects.all()
    serializer_class = HospitalSerializer
    key_fields = (KeyField("hospital_code", "code", help="医疗机构编码 / hospital code"),)
    list_filters = (
        ListFilter("region", "region", kind=REGION, help="统筹区 / region"),
        ListFilter("level", "level", kind=CHOICE, choices=tuple(HospitalLevel.values), help="医院等级 / level"),
        ListFilter("ownership", "ownership", kind=CHOICE, choices=tuple(Ownership.values), help="性质 / ownership"),
        ListFilter("q", q=_name_contains("name", "code"), help="名称或编码包含 / name or code contains"),
    )
    ordering = ("code",)
