from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from parties.scoping import user_region_prefix

MSG_BAD_CREDENTIALS = _("用户名或密码错误 / unable to log in with these credentials")
MSG_CREDENTIALS_REQUIRED = _("须提供用户名和密码 / username and password are required")


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(write_only=True)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})

    def validate(self, attrs):
        request = self.context["request"]
        # The HttpRequest, not DRF's wrapper: django-axes marks it, and AxesMiddleware
        # turns a locked-out attempt into the 429 lockout answer.
        http_request = getattr(request, "_request", request)
        user = authenticate(request=http_request, username=attrs["username"], password=attrs["password"])
        if user is None:
            raise serializers.ValidationError(MSG_BAD_CREDENTIALS, code="authorization")
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class OrganisationSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["enterprise", "hospital", "bureau"])
    code = serializers.CharField(
        help_text="统一社会信用代码、医疗机构编码或区划代码 / credit code, hospital code or region code"
    )
    name = serializers.CharField()
    region_code = serializers.CharField(allow_null=True)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    role = serializers.CharField()
    role_display = serializers.CharField()
    is_superuser = serializers.BooleanField()
    organisation = OrganisationSerializer(allow_null=True)
    region_prefix = serializers.CharField(
        allow_null=True, help_text="经办机构人员的覆盖前缀 / coverage prefix of bureau staff"
    )

    @staticmethod
    def of(user) -> dict:
        org = None
        if user.enterprise_id:
            e = user.enterprise
            org = {"kind": "enterprise", "code": e.credit_code, "name": e.name, "region_code": None}
        elif user.hospital_id:
            h = user.hospital
            org = {"kind": "hospital", "code": h.code, "name": h.name, "region_code": h.region_id}
        elif user.bureau_id:
            b = user.bureau
            org = {"kind": "bureau", "code": b.region_id, "name": b.name, "region_code": b.region_id}
        return {
            "username": user.username,
            "full_name": user.get_full_name(),
            "email": user.email,
            "role": user.role,
            "role_display": str(user.get_role_display()),
            "is_superuser": user.is_superuser,
            "organisation": org,
            "region_prefix": user_region_prefix(user),
        }
