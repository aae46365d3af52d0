"""Exception queue pages: the AP queue, "My disputes", "Receipts needed", one exception with
its context and resolutions, comments and mentions, and bulk jobs.

Every page works as plain forms and links; with htmx the queue, a row, the context drawer or
the exception's body is swapped in place. Views parse input, call one service in
payables.services and turn a DomainError into a message shown next to what failed.
"""

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from p2p import roles
from p2p.exceptions import DomainError, NotAllowed
from p2p.http import AuthenticatedHttpRequest
from p2p.models import AuditEvent
from p2p.roles import Perm, role_required
from payables.filters import InvoiceExceptionFilter
from payables.forms.exceptions import BulkForm, CommentForm, ReceiptForm, form_for
from payables.models.exceptions import BulkJob, InvoiceException
from payables.selectors import exceptions as exception_selectors
from payables.services import actions, bulk
from payables.services import exceptions as exception_services
from payables.services.exceptions import ACTIONS
from vendors.models import Vendor

PAGE_SIZE = 50
Status = InvoiceException.Status


def _load(request: AuthenticatedHttpRequest, pk: int) -> InvoiceException:
    exception = get_object_or_404(
        InvoiceException.objects.select_related(
            "invoice",
            "invoice__vendor",
            "invoice__purchase_order",
            "invoice__purchase_order__buyer",
            "invoice__captured_by",
            "invoice_line",
            "invoice_line__po_line",
            "owner_user",
            "resolved_by",
            "claimed_by",
            "credit_note",
            "credit_requested_by",
        ),
        pk=pk,
    )
    if not exception_services.may_view(exception, request.user):
        raise NotAllowed("This exception is routed to someone else.")
    return exception


def _origin(request: AuthenticatedHttpRequest) -> str:
    return "queue" if request.POST.get("origin") == "queue" else "detail"


def _claim_facts(exception: InvoiceException, user: User, now: dt.datetime) -> tuple[bool, bool]:
    """Whether someone holds a live claim on the exception, and whether it is this user."""
    live_claim = bool(
        exception.status == Status.OPEN
        and exception.claimed_by_id
        and exception.claimed_until
        and exception.claimed_until > now
    )
    return live_claim, live_claim and exception.claimed_by_id == user.pk


def _decorate(exceptions, user, now: dt.datetime) -> None:
    """Per-row facts the templates show (claim state, SLA), computed without queries."""
    for exception in exceptions:
        exception.live_claim, exception.claimed_by_me = _claim_facts(exception, user, now)
        exception.sla_due = exception.sla_due_at
        exception.sla_overdue = exception.status == Status.OPEN and exception.sla_due < now
        exception.sla_today = (
            exception.status == Status.OPEN
            and not exception.sla_overdue
            and timezone.localtime(exception.sla_due).date() == timezone.localdate(now)
        )


# --- the queue -----------------------------------------------------------------------------


def _queue_filter(
    request: AuthenticatedHttpRequest, data: QueryDict, scoped
) -> InvoiceExceptionFilter:
    data = data.copy()
    data.setdefault("status", "unresolved")
    return InvoiceExceptionFilter(data, queryset=scoped, request=request)


def _without(data: QueryDict, key: str) -> QueryDict:
    data = data.copy()
    data.pop(key, None)
    return data


@role_required(Perm.READ_EXCEPTIONS)
@require_GET
def exception_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The AP queue; buyers see their disputes, requesters the receipts they owe."""
    user = request.user
    scoped, scope = exception_selectors.exception_scope(user)
    exception_filter = _queue_filter(request, request.GET, scoped)
    today = timezone.localdate()
    now = timezone.now()
    page = Paginator(exception_selectors.queue_rows(exception_filter.qs), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    _decorate(page.object_list, user, now)
    counts = exception_selectors.counts_by_type(
        _queue_filter(request, _without(request.GET, "type"), scoped).qs
    )
    title, subtitle = exception_selectors.QUEUE_TITLES.get(scope, ("Exceptions", ""))
    is_ap = scope == "ap"
    cleaned = exception_filter.form.cleaned_data if exception_filter.is_valid() else {}
    context = {
        "filter": exception_filter,
        "page": page,
        "counts": counts,
        "total_count": sum(row["count"] for row in counts),
        "ages": exception_selectors.counts_by_age(
            _queue_filter(request, _without(request.GET, "age"), scoped).qs
        ),
        "summary": exception_selectors.queue_summary(scoped, today),
        "current": {key: request.GET.get(key, "") for key in exception_filter.filters},
        "current_status": cleaned.get("status") or "unresolved",
        "current_sort": cleaned.get("sort") or "priority",
        "sorts": [(key, label) for key, (label, _order) in InvoiceExceptionFilter.SORTS.items()],
        "vendors": (
            Vendor.objects.filter(invoices__exceptions__status__in=InvoiceException.UNRESOLVED)
            .distinct()
            .order_by("name")
            .only("id", "name")
            if is_ap
            else []
        ),
        "is_ap": is_ap,
        "can_bulk": is_ap,
        "can_read_invoices": roles.may(user, Perm.READ_INVOICES),
        "scope": scope,
        "title": title,
        "subtitle": subtitle,
        "today": today,
        "now": now,
        "week_ahead": today + dt.timedelta(days=7),
        "unread_mentions": exception_selectors.unread_mentions(user),
        "bulk_form": BulkForm() if is_ap else None,
    }
    if request.htmx and request.htmx.target == "queue":
        return render(request, "payables/_exception_queue.html", context)
    return render(request, "payables/exception_list.html", context)


@role_required(Perm.READ_EXCEPTIONS)
@require_POST
def exception_claim_next(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Claim the first free exception of the user's queue (under its current filters)."""
    scoped, _scope = exception_selectors.exception_scope(request.user)
    # htmx posts the filter form; a plain form keeps the filters in the action's query string.
    filters = request.GET.copy()
    filters.update(request.POST)
    filters.pop("csrfmiddlewaretoken", None)
    candidates = _queue_filter(request, filters, scoped).qs
    exception = exception_services.exception_claim_next(by=request.user, candidates=candidates)
    if exception is None:
        text = "Nothing left to claim under these filters: everything is resolved or taken."
        if request.htmx:
            return render(request, "payables/_exception_notice.html", {"error": text})
        messages.info(request, text)
        return redirect(reverse("payables:exception_list") + "?" + filters.urlencode())
    url = reverse("payables:exception_detail", args=[exception.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


# --- one exception -------------------------------------------------------------------------


def _work_context(
    request: AuthenticatedHttpRequest,
    exception: InvoiceException,
    *,
    bound: tuple[str, object] | None = None,
    origin: str = "detail",
    notice: str = "",
    error: str = "",
) -> dict:
    user = request.user
    now = timezone.now()
    _decorate([exception], user, now)
    live_claim, claimed_by_me = _claim_facts(exception, user, now)
    shortfall = None
    context = exception_selectors.exception_context(exception)
    result = context.result
    if result is not None and result.billable_qty is not None:
        shortfall = max(result.billed_qty_cumulative - result.billable_qty, 0) or None
    forms: list[dict[str, Any]] = []
    for action in exception_services.actions_for(exception, user):
        entry = ACTIONS[action]
        form_class = form_for(entry)
        extra = {"shortfall": shortfall} if form_class is ReceiptForm else {}
        if bound is not None and bound[0] == action:
            form = bound[1]
        else:
            form = form_class(exception=exception, **extra)
        forms.append({"action": action, "label": entry.label, "form": form, "danger": entry.danger})
    may_work = exception_services.may_work(exception, user)
    # Open the likeliest answer, but not one that cannot be used yet (no credit note in).
    usable = [
        f["action"]
        for f in forms
        if "credit_note" not in f["form"].fields
        or f["form"].fields["credit_note"].queryset.exists()
    ]
    return {
        "exception": exception,
        "invoice": exception.invoice,
        "ctx": context,
        "action_forms": forms,
        "open_action": bound[0] if bound is not None else (usable[0] if usable else ""),
        "can_claim": may_work and exception.status == Status.OPEN and not live_claim,
        "can_release": live_claim and (claimed_by_me or roles.may(user, Perm.SUPERVISE_EXCEPTIONS)),
        "origin": origin,
        "notice": notice,
        "error": error,
        "now": now,
        "today": timezone.localdate(),
        "threshold": exception_services.variance_threshold(exception.invoice.currency),
        "needs_manager": exception_services.variance_needs_manager(
            exception.amount_at_stake, exception.invoice.currency
        ),
        "can_read_invoices": roles.may(user, Perm.READ_INVOICES),
        "can_read_po": roles.may(user, Perm.READ_PURCHASING),
    }


def _detail_context(
    request: AuthenticatedHttpRequest, exception: InvoiceException, **kwargs
) -> dict:
    context = _work_context(request, exception, **kwargs)
    refs = [("payables.invoiceexception", exception.pk), ("payables.invoice", exception.invoice_id)]
    context.update(
        {
            "events": AuditEvent.objects.for_objects(refs),
            "comments": list(
                exception.comments.select_related("author").prefetch_related("mentioned")
            ),
            "comment_form": CommentForm(),
            # Kept for pages and tests that look for the two answers a person can give.
            "can_resolve": any(f["action"] != "post_receipt" for f in context["action_forms"]),
            "can_receive": any(f["action"] == "post_receipt" for f in context["action_forms"]),
            "form": next(
                (
                    f["form"]
                    for f in sorted(
                        context["action_forms"], key=lambda f: f["action"] != "accept_variance"
                    )
                ),
                None,
            ),
        }
    )
    return context


# Anyone with a role may open an exception they are @mentioned on; _load checks who may see it.
@role_required(Perm.USE_APP)
def exception_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One exception: the evidence side by side, claim, resolutions, comments and history."""
    exception = _load(request, pk)
    if request.method == "POST":
        # A plain form posts here with `resolution` (or `action`), like the act endpoint.
        return _act(request, exception)
    return render(request, "payables/exception_detail.html", _detail_context(request, exception))


@role_required(Perm.READ_EXCEPTIONS)
@require_POST
def exception_act(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Apply one resolution (the posted `action`) to the exception."""
    return _act(request, _load(request, pk))


def _perform(
    action: str, exception: InvoiceException, user: User, data: dict[str, Any]
) -> InvoiceException:
    # The form's fields are the action's input; a field left empty takes the default.
    return actions.exception_act(
        exception=exception,
        by=user,
        action=action,
        **{name: value for name, value in data.items() if value not in (None, "")},
    )


def _act(request: AuthenticatedHttpRequest, exception: InvoiceException) -> HttpResponse:
    user = request.user
    origin = _origin(request)
    action = request.POST.get("action") or request.POST.get("resolution") or ""
    entry = ACTIONS.get(action)
    form_class = form_for(entry) if entry is not None else None
    bound, error, status, result = None, "", 200, exception
    if form_class is None:
        error, status = "Choose how the exception was resolved.", 400
    else:
        try:
            exception_services.require_action(exception, user, action)
            form = form_class(request.POST, exception=exception)
            bound = (action, form)
            if form.is_valid():
                result = _perform(action, exception, user, form.cleaned_data)
            else:
                error, status = "Check the highlighted fields.", 400
        except DomainError as exc:
            error, status = exc.message, exc.status_code
    if not error and entry is not None:
        message = entry.pending if entry.pending and result.status == Status.OPEN else entry.success
        notice = message.format(
            invoice=exception.invoice.number, vendor=exception.invoice.vendor.name
        )
        if not request.htmx:
            messages.success(request, notice)
            return redirect("payables:exception_list")
        return _render_after(request, exception.pk, origin, notice=notice)
    if request.htmx:
        # 200 so htmx swaps in the form with its message; the message says what went wrong.
        return _render_after(request, exception.pk, origin, bound=bound, error=error)
    messages.error(request, error)
    return render(
        request,
        "payables/exception_detail.html",
        _detail_context(request, _load(request, exception.pk), bound=bound),
        status=status,
    )


def _render_after(
    request: AuthenticatedHttpRequest,
    pk: int,
    origin: str,
    *,
    bound=None,
    notice: str = "",
    error: str = "",
) -> HttpResponse:
    """After a change: the drawer and its queue row (queue), or the exception's body (detail)."""
    exception = _load(request, pk)
    if origin == "queue":
        context = _work_context(
            request, exception, bound=bound, origin="queue", notice=notice, error=error
        )
        context.update(_row_context(request))
        context["row"] = _queue_row(request, pk)
        response = render(request, "payables/_exception_drawer_body.html", context)
    else:
        context = _detail_context(request, exception, bound=bound, notice=notice, error=error)
        response = render(request, "payables/_exception_body.html", context)
    return response


def _row_context(request: AuthenticatedHttpRequest) -> dict:
    scoped, scope = exception_selectors.exception_scope(request.user)
    return {
        "is_ap": scope == "ap",
        "can_bulk": scope == "ap",
        "can_read_invoices": roles.may(request.user, Perm.READ_INVOICES),
        "today": timezone.localdate(),
        "now": timezone.now(),
    }


def _queue_row(request: AuthenticatedHttpRequest, pk: int) -> InvoiceException | None:
    """One exception as its queue row shows it, or None when it is not in this user's queue."""
    scoped, _scope = exception_selectors.exception_scope(request.user)
    row = exception_selectors.queue_rows(
        scoped.filter(pk=pk).with_queue_fields(timezone.localdate())
    ).first()
    if row is not None:
        _decorate([row], request.user, timezone.now())
    return row


def _render_row(request: AuthenticatedHttpRequest, pk: int, error: str = "") -> HttpResponse:
    row = _queue_row(request, pk)
    if row is None:
        raise NotAllowed("This exception is routed to someone else.")
    context = {"exception": row, "row_error": error, **_row_context(request)}
    return render(request, "payables/_exception_row.html", context)


def _claim_step(request: AuthenticatedHttpRequest, pk: int, step, success: str) -> HttpResponse:
    exception = _load(request, pk)
    error = ""
    try:
        step(exception=exception, by=request.user)
    except DomainError as exc:
        error = exc.message
    origin = request.POST.get("origin", "detail")
    if request.htmx:
        if origin == "row":
            return _render_row(request, pk, error)
        return _render_after(
            request, pk, _origin(request), error=error, notice="" if error else success
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, success)
    return redirect("payables:exception_detail", pk=pk)


@role_required(Perm.READ_EXCEPTIONS)
@require_POST
def exception_claim(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Take the exception for the next half hour so nobody else works it."""
    return _claim_step(
        request,
        pk,
        exception_services.exception_claim,
        f"Claimed for {exception_services.CLAIM_MINUTES} minutes; nobody else can work it meanwhile.",
    )


@role_required(Perm.READ_EXCEPTIONS)
@require_POST
def exception_release(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Put the exception back in the queue."""
    return _claim_step(request, pk, exception_services.exception_release, "Released to the queue.")


@role_required(Perm.READ_EXCEPTIONS)
@require_GET
def exception_context(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The drawer under a queue row: the evidence side by side and what can be done."""
    exception = _load(request, pk)
    context = _work_context(request, exception, origin="queue")
    context.update(_row_context(request))
    return render(request, "payables/_exception_drawer.html", context)


# --- comments and mentions -----------------------------------------------------------------


@role_required(Perm.USE_APP)
@require_POST
def exception_comment(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Add a comment; @mentions notify the person named."""
    exception = _load(request, pk)
    form = CommentForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            exception_services.exception_comment(
                exception=exception, by=request.user, body=form.cleaned_data["body"]
            )
        except DomainError as exc:
            error = exc.message
        else:
            form = CommentForm()
    else:
        error = "Write a comment first."
    if request.htmx:
        return render(
            request,
            "payables/_exception_comments.html",
            {
                "exception": exception,
                "comments": list(
                    exception.comments.select_related("author").prefetch_related("mentioned")
                ),
                "comment_form": form,
                "comment_error": error,
            },
        )
    if error:
        messages.error(request, error)
    return redirect("payables:exception_detail", pk=pk)


@role_required(Perm.USE_APP)
def mention_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Comments that named me, unread first; POST marks them read."""
    if request.method == "POST":
        ids = [int(pk) for pk in request.POST.getlist("mention") if pk.isdigit()]
        exception_services.mentions_mark_read(by=request.user, mention_ids=ids or None)
        if not request.htmx:
            return redirect("payables:mention_list")
    mentions = Paginator(exception_selectors.mentions_for(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": mentions, "unread": exception_selectors.unread_mentions(request.user)}
    template = "payables/_exception_mentions.html" if request.htmx else None
    return render(request, template or "payables/exception_mentions.html", context)


# --- bulk ----------------------------------------------------------------------------------


def _job_for(request: AuthenticatedHttpRequest, pk: int) -> BulkJob:
    job = get_object_or_404(BulkJob.objects.select_related("created_by"), pk=pk)
    if job.created_by_id != request.user.pk and not roles.may(
        request.user, Perm.SUPERVISE_EXCEPTIONS
    ):
        raise NotAllowed("Only the clerk who started this job or an AP manager can see it.")
    return job


def _job_context(job: BulkJob) -> dict:
    return {
        "job": job,
        "action_label": ACTIONS[job.resolution].label,
        "failures": list(
            job.items.filter(status="failed").select_related("exception__invoice").order_by("pk")
        )
        if job.status == BulkJob.Status.DONE
        else [],
        "percent": int(job.processed * 100 / job.total) if job.total else 100,
    }


@role_required(Perm.RESOLVE_IN_BULK)
@require_POST
def exception_bulk(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Apply one resolution to the selected exceptions as a background job."""
    form = BulkForm(request.POST)
    error = ""
    job = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            job = bulk.bulk_resolve_start(
                by=request.user,
                exception_ids=data["ids"],
                action=data["action"],
                root_cause=data["root_cause"],
                note=data["note"],
                max_amount=data["max_amount"],
            )
        except DomainError as exc:
            error = exc.message
    else:
        error = str(next(iter(form.errors.values()))[0])
    if request.htmx:
        if job is None:
            return render(request, "payables/_exception_notice.html", {"error": error})
        job.refresh_from_db()
        response = render(request, "payables/_exception_bulk_job.html", _job_context(job))
        if job.status == BulkJob.Status.DONE:
            trigger_client_event(response, "queue-changed")
        return response
    if job is None:
        messages.error(request, error)
        return redirect("payables:exception_list")
    return redirect("payables:bulk_job_detail", pk=job.pk)


@role_required(Perm.RESOLVE_IN_BULK)
@require_GET
def bulk_job_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A bulk job's progress and, once done, what failed and why; htmx polls the partial."""
    job = _job_for(request, pk)
    context = _job_context(job)
    if request.htmx:
        response = render(request, "payables/_exception_bulk_job.html", context)
        if job.status == BulkJob.Status.DONE:
            trigger_client_event(response, "queue-changed")
        return response
    return render(request, "payables/exception_bulk_job.html", context)
