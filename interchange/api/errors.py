"""The API's error shape: {"code": …, "detail": …, "fields": {…}} (INTERFACES.md).

Every error DRF answers (400 validation, 401, 403, 404, 405, 406, 409, 415, 429) goes
through ``exception_handler`` and comes out in that shape:

- ``code``: a stable machine-readable string (DRF's error code, e.g. ``not_authenticated``,
  ``permission_denied``, ``not_found``, ``method_not_allowed``, ``throttled``, ``invalid``,
  or the code a service gave its ValidationError / APIException);
- ``detail``: one human-readable sentence (Chinese / English where the project wrote it);
- ``fields``: for validation errors, field → list of messages; else ``{}``.

403 answers are also recorded as security events (parties.services.security).
"""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

MSG_INVALID = _("输入有误 / invalid input")
MSG_NO_ENDPOINT = _("没有这个接口 / no such endpoint")
CODE_INVALID = "invalid"
NON_FIELD_KEYS = ("non_field_errors", "__all__")


class Conflict(exceptions.APIException):
    """409: the request conflicts with the document's current state (services raise it)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("与当前状态冲突 / conflicts with the current state")
    default_code = "conflict"


def _code_of(value, default: str) -> str:
    return str(getattr(value, "code", None) or default)


def _messages(value) -> list[str]:
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            out.extend(_messages(item))
        return out
    if isinstance(value, dict):
        return [m for v in value.values() for m in _messages(v)]
    return [str(value)]


def _codes(value) -> set[str]:
    if isinstance(value, list | tuple):
        return set().union(*(_codes(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_codes(v) for v in value.values())) if value else set()
    code = getattr(value, "code", None)
    return {str(code)} if code else set()


def _first_code(value, default: str) -> str:
    """The errors' code when they all share one, else ``default``."""
    codes = _codes(value)
    return codes.pop() if len(codes) == 1 else default


def error_body(data, exc=None) -> dict:
    """``{"code","detail","fields"}`` from DRF's ``response.data`` for ``exc``."""
    default_code = str(getattr(exc, "default_code", None) or "error")
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        detail = data["detail"]
        return {"code": _code_of(detail, default_code), "detail": str(detail), "fields": {}}
    if isinstance(data, dict):
        fields = {k: v for k, v in data.items() if k not in NON_FIELD_KEYS}
        general = [m for k in NON_FIELD_KEYS for m in _messages(data.get(k, []))]
        if general:
            first = next(data[k] for k in NON_FIELD_KEYS if data.get(k))
            code = _first_code(first, CODE_INVALID)
            detail = " ".join(general)
        else:
            code = _first_code(fields, CODE_INVALID)
            detail = str(MSG_INVALID)
        return {"code": code, "detail": detail, "fields": fields}
    if isinstance(data, list | tuple):
        return {
            "code": _first_code(data, CODE_INVALID),
            "detail": " ".join(_messages(data)) or str(MSG_INVALID),
            "fields": {},
        }
    return {"code": default_code, "detail": str(data), "fields": {}}


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = error_body(response.data, exc)
    if response.status_code == status.HTTP_403_FORBIDDEN:
        _record_forbidden(context.get("request"), response.data)
    return response


def _record_forbidden(request, body: dict) -> None:
    if request is None:
        return
    from parties.middleware import mark_recorded
    from parties.services.security import KIND_FORBIDDEN, security_event_record

    http_request = getattr(request, "_request", request)
    # DRF's user is anonymous when authentication itself failed (e.g. CSRF): fall back
    # to the session's user so the event names who it was.
    user = getattr(request, "user", None)
    if (user is None or not user.is_authenticated) and hasattr(http_request, "session"):
        from django.contrib.auth import get_user

        user = get_user(http_request)
    security_event_record(
        kind=KIND_FORBIDDEN,
        request=http_request,
        user=user,
        detail=f"{request.method} {body['code']}: {body['detail']}",
    )
    mark_recorded(http_request)


def api_not_found(request, *args, **kwargs):
    """404 in the error shape for a path under /api/ that matches no route.

    Wire it as the last pattern of the API: ``re_path(r"^.*$", api_not_found)`` in
    config/api_urls.py, so clients never get Django's HTML 404 page.
    """
    return JsonResponse(
        {"code": "not_found", "detail": str(MSG_NO_ENDPOINT), "fields": {}},
        status=status.HTTP_404_NOT_FOUND,
        json_dumps_params={"ensure_ascii": False},
    )
