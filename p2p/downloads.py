"""Serving stored files (attachments of requests and invoices) back to the people who may read them."""

from typing import BinaryIO

from django.http import FileResponse


def private_file_response(
    handle: BinaryIO, *, filename: str, content_type: str, inline: bool
) -> FileResponse:
    """One file with the same protective headers wherever it is downloaded from."""
    response = FileResponse(
        handle, as_attachment=not inline, filename=filename, content_type=content_type
    )
    # The browser must not guess a more dangerous type than the one we recognised, and a
    # file shown inline runs sandboxed: an HTML or SVG that slipped through gets no script
    # and no access to our origin's cookies.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
