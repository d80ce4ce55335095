"""``Idempotency-Key`` replay for POSTs that create or transition (INTERFACES.md).

A repeated key with the same body gets the first answer again (same status and body);
the same key with a different body (or another endpoint) is 409. Only successful
(2xx) and client-error (4xx) answers are remembered; a 5xx may be retried.

Usage on a DRF view method::

    @idempotent
    def post(self, request, *args, **kwargs): ...
"""

from __future__ import annotations

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.response import Response

from interchange.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 200


def _body_hash(request) -> str:
    try:
        body = request.body
    except Exception:  # noqa: BLE001 - a stream already read (multipart): hash its parsed data instead
        body = json.dumps(
            {k: [str(v) for v in request.data.getlist(k)] if hasattr(request.data, "getlist") else str(request.data[k])
             for k in sorted(request.data.keys())},
            sort_keys=True,
        ).encode()
        for name, f in sorted(getattr(request, "FILES", {}).items()):
            h = hashlib.sha256()
            for chunk in f.chunks():
                h.update(chunk)
            f.seek(0)
            body += name.encode() + h.hexdigest().encode()
    return hashlib.sha256(body or b"").hexdigest()


def _conflict(detail: str) -> Response:
    return Response({"code": "idempotency_conflict", "detail": detail, "fields": {}}, status=status.HTTP_409_CONFLICT)


def idempotent(view_method):
    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.META.get(HEADER)
        if not key or not request.user.is_authenticated:
            return view_method(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            return Response(
                {"code": "invalid", "detail": "Idempotency-Key 过长 / too long", "fields": {}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        digest = _body_hash(request)
        earlier = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
        if earlier is not None:
            if earlier.request_hash != digest or earlier.path != request.path or earlier.method != request.method:
                return _conflict("同一 Idempotency-Key 用于不同请求 / the key was used for a different request")
            return Response(earlier.response, status=earlier.status_code, headers={"Idempotent-Replayed": "true"})
        response = view_method(self, request, *args, **kwargs)
        if response.status_code < 500:
            data = response.data if response.data is not None else {}
            try:
                with transaction.atomic():
                    IdempotencyRecord.objects.create(
                        user=request.user,
                        key=key,
                        method=request.method,
                        path=request.path,
                        request_hash=digest,
                        status_code=response.status_code,
                        response=json.loads(json.dumps(data, default=str)),
                    )
            except IntegrityError:
                # A concurrent request with the same key won the race: answer as it did.
                first = IdempotencyRecord.objects.get(user=request.user, key=key)
                if first.request_hash != digest:
                    return _conflict("同一 Idempotency-Key 用于不同请求 / the key was used for a different request")
                return Response(first.response, status=first.status_code, headers={"Idempotent-Replayed": "true"})
        return response

    return wrapper
