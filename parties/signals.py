"""Failed logins and lockouts go to the security log (receivers wired in PartiesConfig.ready)."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from parties.services.security import KIND_LOCKED_OUT, KIND_LOGIN_FAILED, security_event_record


def _http_request(request):
    return getattr(request, "_request", request)  # DRF Request → HttpRequest


@receiver(user_login_failed, dispatch_uid="parties.login_failed")
def record_login_failed(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username", "")
    security_event_record(kind=KIND_LOGIN_FAILED, request=_http_request(request), detail=f"username={username}")


def record_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    security_event_record(
        kind=KIND_LOCKED_OUT, request=_http_request(request), detail=f"username={username} ip={ip_address}"
    )


def connect_axes() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(record_locked_out, dispatch_uid="parties.locked_out")
