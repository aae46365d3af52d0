"""Template tags for the vendor pages: what AP and procurement know about a vendor.

The vendors app sits below procurement and payables and never queries them; its templates
load this library instead, so the vendor page still shows open documents, payments, holds
and the scorecard while vendors' own views read vendor data only.
"""

from django import template
from django.core.paginator import Page, Paginator
from django.http import HttpRequest

from payables.selectors import vendors as figures
from vendors import selectors
from vendors.models import Vendor
from vendors.views import PAGE_SIZE

register = template.Library()


@register.simple_tag
def vendor_open_items(vendor: Vendor) -> dict:
    """The vendor page's tiles and lists: open POs, invoices, exceptions, payments, held."""
    return {
        **figures.vendor_open_documents(vendor),
        "totals": figures.vendor_open_amounts(vendor),
        "paid_window_days": figures.PAID_WINDOW_DAYS,
    }


@register.simple_tag
def vendor_scorecard(vendor: Vendor, period: str) -> figures.Scorecard:
    """The vendor's scorecard over the period the page asked for (the default if none)."""
    return figures.vendor_scorecard(vendor, period or "")


@register.simple_tag
def scorecard_periods() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _days) in figures.SCORECARD_PERIODS.items()]


@register.simple_tag
def vendors_with_held_invoices() -> int:
    """How many vendors have approved invoices that payment runs leave out: the tab's count."""
    return figures.vendors_on_payment_hold().filter(held_invoices__gt=0).count()


@register.simple_tag
def payment_hold_page(request: HttpRequest, only_held: bool) -> Page:
    """One page of the vendors on payment hold, each with its reasons and pending account."""
    holds = figures.vendors_on_payment_hold()
    if only_held:
        holds = holds.filter(held_invoices__gt=0)
    page = Paginator(holds, PAGE_SIZE).get_page(request.GET.get("page"))
    for vendor in page.object_list:
        vendor.reasons = selectors.hold_reasons(vendor)
        vendor.pending = vendor.pending_accounts[0] if vendor.pending_accounts else None
    return page
