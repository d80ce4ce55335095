"""Records every 403 answer (pages and API) as a security event.

A 403 is rare in normal use, so the cost (one INSERT) is paid only when something was
refused. Views that already recorded a refusal with more detail (the DRF exception
handler) set ``request.security_event_recorded`` and are skipped here.
"""

from __future__ import annotations

from parties.services.security import KIND_FORBIDDEN, security_event_record

RECORDED_FLAG = "security_event_recorded"


def mark_recorded(request) -> None:
    """Tell the middleware this request's refusal is already recorded (accepts DRF or Django requests)."""
    target = getattr(request, "_request", request)
    setattr(target, RECORDED_FLAG, True)


class SecurityEventMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403 and not getattr(request, RECORDED_FLAG, False):
            reason = getattr(response, "reason_phrase", "") or ""
            security_event_record(kind=KIND_FORBIDDEN, request=request, detail=f"{request.method} {reason}")
        return response
