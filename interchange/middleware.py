"""Refuse input that no text column can hold before it reaches a view.

PostgreSQL text cannot contain NUL (0x00); a query string or form field carrying one
would otherwise surface as a 500 deep in a filter. It is bad input: answer 400, in the
API's error shape under /api/.
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse

CODE_NUL = "nul_character"
MSG_NUL = "参数中含有不允许的空字符 (NUL) / a parameter contains a NUL character"


def _has_nul(querydict) -> str | None:
    for key, values in querydict.lists():
        if "\x00" in key or any("\x00" in v for v in values if isinstance(v, str)):
            return key.replace("\x00", "\\x00")
    return None


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = _has_nul(request.GET)
        if bad is None and request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            bad = _has_nul(request.POST)
        if bad is not None:
            if request.path.startswith("/api/"):
                return JsonResponse({"code": CODE_NUL, "detail": MSG_NUL, "fields": {bad: [MSG_NUL]}}, status=400)
            return HttpResponseBadRequest(MSG_NUL)
        return self.get_response(request)
