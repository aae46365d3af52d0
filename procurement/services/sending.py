"""Sending an issued purchase order (PDF attached) to the vendor by email."""

import smtplib

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.roles import Perm
from procurement import documents, selectors
from procurement.models import PurchaseOrder
from procurement.services.common import _money, _name


def po_send(*, po: PurchaseOrder, by: User, recipients: list[str] | None = None) -> PurchaseOrder:
    """Email the PO document (PDF attached) to the vendor, or to the given addresses."""
    roles.require(by, Perm.MANAGE_ORDERS)
    po = PurchaseOrder.objects.select_related("vendor", "buyer", "payment_terms").get(pk=po.pk)
    if po.status not in (*PurchaseOrder.OPEN_STATUSES, PurchaseOrder.Status.CLOSED):
        raise DomainError(
            f"{po.number} is {po.get_status_display().lower()}; only issued orders are sent."
        )
    recipients = [r.strip() for r in (recipients or [po.vendor.email]) if r and r.strip()]
    if not recipients:
        raise DomainError(
            f"{po.vendor.name} has no email address; add one to the vendor or enter an address."
        )
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            raise DomainError(f"'{address}' is not an email address.") from None
    document = selectors.po_document(po.pk)
    assert document is not None  # without a user to limit it, the PO just read is found
    message = EmailMessage(
        subject=f"Purchase order {po.number}"
        + (f" (revision {po.revision})" if po.revision else ""),
        body=(
            f"Dear {po.vendor.name},\n\nPlease find attached purchase order {po.number} "
            f"for {_money(po.total_amount, po.currency)}. Quote the PO number and line "
            f"numbers on your invoice.\n\nKind regards,\n{_name(po.buyer)}"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[po.buyer.email] if po.buyer.email else None,
    )
    message.attach(f"{po.number}.pdf", documents.render_po_pdf(document), "application/pdf")
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        raise DomainError(f"The email could not be sent: {exc}") from None
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().get(pk=po.pk)
        po.sent_at = timezone.now()
        po.save(update_fields=["sent_at"])
        audit_record(
            obj=po,
            action=AuditAction.SENT_TO_VENDOR,
            by=by,
            changes={"to": ", ".join(recipients), "revision": po.revision},
        )
    return po
