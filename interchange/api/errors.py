"""The API's error shape: {"code": …, "detail": …, "fields": {…}} (INTERFACES.md)."""

from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "error")
    fields: dict = {}
    if isinstance(data, dict) and "detail" in data:
        detail = data["detail"]
        code = getattr(detail, "code", code)
    elif isinstance(data, dict):
        fields = data
        detail = "输入有误 / invalid input"
        code = "invalid"
    else:
        detail = data
    response.data = {"code": str(code), "detail": str(detail), "fields": fields}
    return response
