"""Exchange-rate pages: the rates list, the ECB file upload and a manual rate.

Views parse input with a form, call one service and turn DomainError into a message;
NotAllowed from a service bubbles up as a 403.
"""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from currencies import selectors, services
from currencies.filters import RateFilter
from currencies.forms import EcbFileForm, ManualRateForm
from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm

PAGE_SIZE = 50
FILTER_KEYS = ("currency", "date", "date_from", "date_to", "source")


@roles.role_required(Perm.READ_RATES)
@require_GET
def rate_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every rate, newest day first, filtered by currency, date and source."""
    rate_filter = RateFilter(request.GET or None, queryset=selectors.rate_list_queryset())
    # A filter that does not parse (a mangled date) lists nothing and says why, rather than
    # quietly listing every rate.
    valid = not rate_filter.is_bound or rate_filter.is_valid()
    rates = rate_filter.qs if valid else selectors.rate_list_queryset().none()
    page = selectors.rate_page(rates, request.GET.get("after", ""), PAGE_SIZE)
    return render(
        request,
        "currencies/rate_list.html",
        {
            "filter": rate_filter,
            "page": page,
            "first_page": "after" in request.GET,
            "filtered": any(request.GET.get(key) for key in FILTER_KEYS),
            "can_manage": roles.may(request.user, Perm.MANAGE_RATES),
        },
    )


@roles.role_required(Perm.MANAGE_RATES)
@require_http_methods(["GET", "POST"])
def rate_import(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Upload an ECB reference-rate file and see what it added or changed."""
    form = EcbFileForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = services.ecb_rates_import(data=upload.read(), by=request.user)
        except DomainError as exc:
            form.add_error("file", f"{exc.message} Nothing was imported.")
        else:
            # Shown on this page rather than after a redirect: the counts are the answer, and
            # sending the file again by reloading changes nothing.
            messages.success(request, f"{upload.name}: {result.summary()}.")
            form = EcbFileForm()
    return render(request, "currencies/rate_import.html", {"form": form, "result": result})


@roles.role_required(Perm.MANAGE_RATES)
@require_http_methods(["GET", "POST"])
def rate_manual(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Enter or correct a rate for a pair the ECB does not publish, with its source."""
    form = ManualRateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rate = services.manual_rate_enter(by=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Rate recorded: {rate}.")
            return redirect(f"{reverse('currencies:rate_list')}?currency={rate.quote_currency}")
    return render(request, "currencies/rate_manual.html", {"form": form})
