"""Who am I, and the token endpoint (login throttled by django-axes like the login page)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, renderers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from parties.api.serializers import MeSerializer, TokenObtainSerializer, TokenSerializer


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="当前用户 / the signed-in user",
        description="用户、角色与所属机构 / user, role and organisation.",
        responses=MeSerializer,
    )
    def get(self, request):
        return Response(MeSerializer.of(request.user))


class TokenView(APIView):
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    parser_classes = (parsers.JSONParser, parsers.FormParser, parsers.MultiPartParser)
    renderer_classes = (renderers.JSONRenderer,)

    @extend_schema(
        summary="获取令牌 / obtain an API token",
        description=(
            "用户名和密码换取令牌，之后以 `Authorization: Token <key>` 访问。连续失败5次后锁定(429)。"
            " / Exchange username and password for a token; send it as `Authorization: Token <key>`."
            " Five failures in a row lock the username + IP out (429), even with the right password."
        ),
        request=TokenObtainSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(description="错误的凭据 / bad credentials"),
            429: OpenApiResponse(description="已锁定 / locked out"),
        },
        auth=[],
    )
    def post(self, request):
        serializer = TokenObtainSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _created = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
