"""Attachments on a purchase request: upload, download and remove."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from p2p import roles
from p2p.downloads import private_file_response
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement import selectors
from procurement.forms import AttachmentForm
from procurement.services import attachments as attachment_services
from procurement.views.requests import _visible_request


@roles.role_required(Perm.READ_PURCHASING)
@require_POST
def request_attach(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Add quotes or specifications to a request."""
    purchase_request = _visible_request(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid() or not form.cleaned_data["files"]:
        messages.error(request, "Choose a file to attach.")
    else:
        try:
            saved = attachment_services.request_attachment_add(
                request=purchase_request, by=request.user, uploads=form.cleaned_data["files"]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{len(saved)} file{'s' if len(saved) != 1 else ''} attached."
            )
    return redirect("procurement:request_detail", pk=pk)


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def request_attachment(
    request: AuthenticatedHttpRequest, pk: int, attachment_pk: int
) -> FileResponse:
    """Download an attachment — only for users who may see the request (never a public URL)."""
    attachment = selectors.attachment_for(request.user, pk, attachment_pk)
    if attachment is None or (
        attachment.removed_at is not None and not roles.may(request.user, Perm.READ_REMOVED)
    ):
        raise Http404("No such attachment.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    return private_file_response(
        handle,
        filename=attachment.original_name,
        content_type=attachment.content_type,
        inline=request.GET.get("inline") == "1" and attachment.content_type == "application/pdf",
    )


@roles.role_required(Perm.READ_PURCHASING)
@require_POST
def request_attachment_remove(
    request: AuthenticatedHttpRequest, pk: int, attachment_pk: int
) -> HttpResponse:
    """Take an attachment off a request that can still change, saying why."""
    attachment = selectors.attachment_for(request.user, pk, attachment_pk)
    if attachment is None:
        raise Http404("No such attachment.")
    try:
        attachment_services.request_attachment_remove(
            attachment=attachment, by=request.user, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{attachment.original_name} removed.")
    return redirect("procurement:request_detail", pk=pk)
