"""Receiving files over HTTP without trusting their size or their claimed type.

Django reads an upload into memory (small files) or a temporary file (large ones) before a
view sees it, so a 2 GB "invoice" would be read completely before any check in a form. The
handler here counts bytes as they arrive and drops a file the moment it passes its limit;
the view, the form and the parser then check the size again. The same limits serve the
browser upload, the invoice form's attachments and the API.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from p2p.http import AuthenticatedHttpRequest
from payables.einvoice.common import MAX_DOCUMENT_BYTES
from payables.einvoice.csv_import import MAX_CSV_BYTES

MB = 1024 * 1024
# A vendor's scanned PDF or photo; anything larger is not an invoice attachment.
MAX_ATTACHMENT_BYTES = 10 * MB
# One browser or API upload altogether: enough for a hundred real e-invoices or a big CSV.
MAX_UPLOAD_REQUEST_BYTES = 100 * MB
MAX_UPLOAD_FILES = 100

# What an attachment may be, recognised by its first bytes (the browser's claim is ignored).
ATTACHMENT_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
ATTACHMENT_KINDS = "PDF, PNG, JPEG or TIFF"


@dataclass(frozen=True)
class RefusedUpload:
    """A file dropped while it arrived, and the reason the clerk is told."""

    name: str
    error: str


def import_limit(file_name: str) -> int:
    """The most bytes an import file may have: a CSV holds many invoices, an e-invoice one."""
    return MAX_CSV_BYTES if file_name.lower().endswith(".csv") else MAX_DOCUMENT_BYTES


def attachment_limit(file_name: str) -> int:
    """Every attachment has the same limit, whatever its name says."""
    return MAX_ATTACHMENT_BYTES


def too_large_message(file_name: str, limit: int, size: int | None = None) -> str:
    """The clerk-readable reason, in the words the command line uses."""
    what = (
        "CSV files"
        if file_name.lower().endswith(".csv")
        else "attachments"
        if limit == MAX_ATTACHMENT_BYTES
        else "e-invoices"
    )
    stated = f"{size / MB:.1f} MB" if size is not None else f"larger than {limit // MB} MB"
    return f"The file is {stated}; {what} above {limit // MB} MB are refused."


class SizeLimitedUploadHandler(FileUploadHandler):
    """Drops a file as soon as it passes its limit, before it is read any further.

    Placed first, it sees every chunk before Django's memory and temporary-file handlers
    store it; the dropped file never reaches request.FILES and is listed in `refused`.
    """

    def __init__(self, request: HttpRequest | None = None, *, limit_for: Callable[[str], int]):
        super().__init__(request)
        self.limit_for = limit_for
        self.refused: list[RefusedUpload] = []
        # Set when the whole request was refused unread for its size.
        self.request_refused = ""
        self._received = 0
        self._limit = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],  # noqa: N803 — Django's name for it
        content_length: int,
        # MultiPartParser passes the boundary encoded; the stubs say str.
        boundary: bytes,  # type: ignore[override]
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict] | None:
        if content_length > MAX_UPLOAD_REQUEST_BYTES:
            # Returning the (empty) data tells Django not to read the body at all.
            self.request_refused = too_large_request_message(content_length)
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0
        self._limit = self.limit_for(self.file_name or "")

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._received += len(raw_data)
        if self._received > self._limit:
            name = self.file_name or "upload"
            self.refused.append(RefusedUpload(name, too_large_message(name, self._limit)))
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        # The next handlers keep the file; this one only counts.
        return None


def limited_uploads(
    limit_for: Callable[[str], int],
    too_large: Callable[[AuthenticatedHttpRequest, str], HttpResponse] | None = None,
) -> Callable:
    """View decorator: install the size-limiting handler before anything reads the body.

    Django's CSRF middleware reads request.POST (and so the whole upload) before the view
    runs, after which the handlers cannot change. The view is therefore exempted from the
    middleware and checked by csrf_protect once the handler is in place. A request larger
    than MAX_UPLOAD_REQUEST_BYTES is answered by `too_large` (by default: the message and a
    redirect back) from its Content-Length, without reading it. The view finds the files
    the handler dropped with `refused_uploads(request)`.
    """

    def decorator(view: Callable) -> Callable:
        protected = csrf_protect(view)

        @wraps(view)
        def wrapped(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                message = request_too_large(request)
                if message:
                    if too_large is not None:
                        return too_large(request, message)
                    messages.error(request, message)
                    return redirect(request.get_full_path())
                install_upload_limiter(request, limit_for)
            return protected(request, *args, **kwargs)

        return csrf_exempt(wrapped)

    return decorator


def request_too_large(request: HttpRequest) -> str:
    """Why the whole request is refused unread, or '' when its stated size is acceptable."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "The upload could not be read."
    if length > MAX_UPLOAD_REQUEST_BYTES:
        return too_large_request_message(length)
    return ""


def too_large_request_message(length: int) -> str:
    return (
        f"The upload is {length / MB:.0f} MB; send at most "
        f"{MAX_UPLOAD_REQUEST_BYTES // MB} MB at once (split it into several uploads)."
    )


def install_upload_limiter(
    request: HttpRequest, limit_for: Callable[[str], int]
) -> SizeLimitedUploadHandler:
    """Put the size-limiting handler first; call before anything reads the request body."""
    limiter = SizeLimitedUploadHandler(request, limit_for=limit_for)
    # Assigning (not inserting) raises if the body was already read and the handlers are frozen.
    request.upload_handlers = [limiter, *request.upload_handlers]
    # refused_uploads and refused_request read it back; HttpRequest declares no such attribute.
    request.upload_limiter = limiter  # type: ignore[attr-defined]
    return limiter


def refused_request(request: HttpRequest) -> str:
    """Why the whole request was refused unread, or ''."""
    limiter = getattr(request, "upload_limiter", None)
    return limiter.request_refused if limiter is not None else ""


def refused_uploads(request: HttpRequest) -> list[RefusedUpload]:
    """The files the size-limiting handler dropped while reading this request."""
    limiter = getattr(request, "upload_limiter", None)
    return list(limiter.refused) if limiter is not None else []


def sniff_attachment_type(head: bytes) -> str | None:
    """The attachment's content type from its first bytes; None when it is not one we keep."""
    for signature, content_type in ATTACHMENT_SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None
