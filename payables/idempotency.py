"""`Idempotency-Key` for API calls that move money: a retry gets the first answer, not a second run.

A client that times out cannot know whether its POST happened. With the header set, the
first request stores its response under (user, key); a retry with the same key and the same
body replays that response without calling the service again. The same key with a different
body is refused (422), and a retry while the first is still running gets 409. A first request
that never answered (its process was killed) is given up after IDEMPOTENCY_PENDING_TIMEOUT:
the next retry runs it. Keys are kept for IDEMPOTENCY_KEY_RETENTION, then purged.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from p2p.http import request_user
from payables.models.idempotency import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def request_hash(request: Request) -> str:
    """The method, path and body, canonicalised so key order or spacing does not matter.

    A password confirming the act is left out: the stored digest must not be a way to test
    guesses, and a retry with the same key is the same act whatever was typed.
    """
    data = request.data
    if isinstance(data, dict) and "password" in data:
        data = {key: value for key, value in data.items() if key != "password"}
    try:
        body = json.dumps(data, sort_keys=True, default=str)
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
                    user=request_user(request), key=key, endpoint=endpoint, request_hash=digest
                )
        except IntegrityError:
            first = IdempotencyKey.objects.get(user=request_user(request), key=key)
            if first.endpoint != endpoint or first.request_hash != digest:
                return Response(
                    {
                        "detail": f"{HEADER} '{key}' was already used for a different request "
                        f"({first.endpoint}); use a new key for a new request."
                    },
                    status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            if first.response_status is not None:
                response = Response(first.response_body, status=first.response_status)
                response["Idempotent-Replayed"] = "true"
                return response
            if not _take_over_abandoned(first):
                return Response(
                    {
                        "detail": f"The request with {HEADER} '{key}' is still being processed. "
                        "If it never answers, a retry with the same key runs it again "
                        f"{settings.IDEMPOTENCY_PENDING_TIMEOUT} seconds after it started."
                    },
                    status=status.HTTP_409_CONFLICT,
                )
            record = first
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


def _take_over_abandoned(record: IdempotencyKey) -> bool:
    """Claim a key whose first request outlived IDEMPOTENCY_PENDING_TIMEOUT without answering.

    No request runs that long, so its process died (a crash leaves no response to store). One
    conditional update decides, so of several concurrent retries exactly one runs it again.
    """
    now = timezone.now()
    started_before = now - dt.timedelta(seconds=settings.IDEMPOTENCY_PENDING_TIMEOUT)
    return bool(
        IdempotencyKey.objects.filter(
            pk=record.pk, response_status__isnull=True, created_at__lt=started_before
        ).update(created_at=now)
    )


def purge_expired_keys() -> int:
    """Delete keys older than IDEMPOTENCY_KEY_RETENTION; returns how many were deleted."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.IDEMPOTENCY_KEY_RETENTION)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
