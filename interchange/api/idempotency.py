"""``Idempotency-Key`` replay for POSTs that create or transition (INTERFACES.md).

A repeated key (per user) with the same method, path and body gets the first answer
again (same status and body, plus ``Idempotent-Replayed: true``) and the view does not run
again; the same key with a different body, method or path is 409
(``idempotency_conflict``). 2xx and 4xx answers are remembered (also 4xx raised as
exceptions by the view: a replayed refusal is still a refusal), except 429; a 5xx or an
unexpected exception is not, and the key may be retried.

The key is reserved *before* the view runs, in the same transaction as the view's own
writes: a concurrent twin carrying the same key waits on the unique index, then replays
the answer once the first commits, so the side effect happens once even under races.
If the view's work rolls back, so does the reservation.

Usage on a DRF view method::

    @idempotent
    def post(self, request, *args, **kwargs): ...
"""

from __future__ import annotations

import functools
import hashlib
import json

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from interchange.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
CODE_CONFLICT = "idempotency_conflict"
CODE_KEY_INVALID = "idempotency_key_invalid"
MSG_CONFLICT = "同一 Idempotency-Key 用于不同请求 / the key was used for a different request"
MSG_KEY_TOO_LONG = f"Idempotency-Key 过长(最多 {MAX_KEY_LENGTH} 字符) / too long (at most {MAX_KEY_LENGTH} characters)"
NOT_REMEMBERED = frozenset({status.HTTP_429_TOO_MANY_REQUESTS})
_PENDING = 0  # status_code of a reserved key whose answer is not written yet (never committed)


def _body_hash(request) -> str:
    try:
        body = request.body
    except Exception:  # noqa: BLE001 - a stream already read (multipart): hash its parsed data instead
        data = request.data
        parsed = {
            k: [str(v) for v in data.getlist(k)] if hasattr(data, "getlist") else str(data[k])
            for k in sorted(data.keys())
        }
        body = json.dumps(parsed, sort_keys=True).encode()
        for name, f in sorted(getattr(request, "FILES", {}).items()):
            h = hashlib.sha256()
            for chunk in f.chunks():
                h.update(chunk)
            f.seek(0)
            body += name.encode() + h.hexdigest().encode()
    return hashlib.sha256(body or b"").hexdigest()


def _error(code: str, detail: str, status_code: int) -> Response:
    return Response({"code": code, "detail": detail, "fields": {}}, status=status_code)


def _replay(record: IdempotencyRecord, *, method: str, path: str, digest: str) -> Response:
    if record.request_hash != digest or record.path != path or record.method != method:
        return _error(CODE_CONFLICT, MSG_CONFLICT, status.HTTP_409_CONFLICT)
    return Response(record.response, status=record.status_code, headers={REPLAY_HEADER: "true"})


class _NotRemembered(Exception):  # noqa: N818 - control flow: leave the atomic block, rolling back
    def __init__(self, response):
        self.response = response


def idempotent(view_method):
    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.META.get(HEADER)
        if not key or not request.user.is_authenticated:
            return view_method(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            return _error(CODE_KEY_INVALID, MSG_KEY_TOO_LONG, status.HTTP_400_BAD_REQUEST)
        user, method, path = request.user, request.method, request.path
        digest = _body_hash(request)
        earlier = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if earlier is not None:
            return _replay(earlier, method=method, path=path, digest=digest)
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        record = IdempotencyRecord.objects.create(
                            user=user,
                            key=key,
                            method=method,
                            path=path,
                            request_hash=digest,
                            status_code=_PENDING,
                            response={},
                        )
                except IntegrityError:
                    # A twin with the same key committed while we waited on the index.
                    first = IdempotencyRecord.objects.get(user=user, key=key)
                    return _replay(first, method=method, path=path, digest=digest)
                try:
                    with transaction.atomic():  # the view's writes roll back alone on a 4xx exception
                        response = view_method(self, request, *args, **kwargs)
                except (APIException, Http404, PermissionDenied) as exc:
                    response = self.handle_exception(exc)
                if response.status_code >= 500 or response.status_code in NOT_REMEMBERED:
                    raise _NotRemembered(response)
                data = response.data if getattr(response, "data", None) is not None else {}
                record.status_code = response.status_code
                record.response = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
                record.save(update_fields=["status_code", "response"])
                return response
        except _NotRemembered as nr:
            return nr.response

    return wrapper
