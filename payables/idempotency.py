"""`Idempotency-Key` for API calls that move money: a retry gets the first answer, not a second run.

A client that times out cannot know whether its POST happened. With the header set, the
first request stores its response under (user, key); a retry with the same key and the same
body replays that response without calling the service again. The same key with a different
body is refused (422), and a retry while the first is still running gets 409.
"""

import hashlib
import json
from collections.abc import Callable
from functools import wraps

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from payables.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def request_hash(request: Request) -> str:
    """The method, path and body, canonicalised so key order or spacing does not matter."""
    try:
        body = json.dumps(request.data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        body = request.body.decode("utf-8", "replace")
    raw = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def idempotent(view_method: Callable) -> Callable:
    """Decorate a ViewSet action; without the header the action runs as usual."""

    @wraps(view_method)
    def wrapped(self, request: Request, *args, **kwargs) -> Response:
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            return Response(
                {"detail": f"{HEADER} is at most {MAX_KEY_LENGTH} characters."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        endpoint = f"{request.method} {request.path}"
        digest = request_hash(request)
        try:
            # Committed on its own, so a concurrent retry sees the key while this one runs.
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=request.user, key=key, endpoint=endpoint, request_hash=digest
                )
        except IntegrityError:
            first = IdempotencyKey.objects.get(user=request.user, key=key)
            if first.endpoint != endpoint or first.request_hash != digest:
                return Response(
                    {
                        "detail": f"{HEADER} '{key}' was already used for a different request "
                        f"({first.endpoint}); use a new key for a new request."
                    },
                    status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            if first.response_status is None:
                return Response(
                    {"detail": f"The request with {HEADER} '{key}' is still being processed."},
                    status=status.HTTP_409_CONFLICT,
                )
            response = Response(first.response_body, status=first.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:
            # Refusals (400/403/409) are answers too and are replayed; a crash is not, so the
            # client may retry it with the same key.
            try:
                response = self.handle_exception(exc)
            except Exception:
                record.delete()
                raise
        if response.status_code >= 500:
            record.delete()
            return response
        record.response_status = response.status_code
        record.response_body = json.loads(json.dumps(response.data, default=str))
        record.save(update_fields=["response_status", "response_body"])
        return response

    return wrapped
