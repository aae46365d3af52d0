"""Property: the facts equal a direct recomputation from the invoices, for any data.

Random (seeded, so reproducible) invoices in every state, with exceptions and payments,
captured at any hour (so local-day boundaries are crossed); then every KPI for random
periods and filters is recomputed in plain Python from the documents themselves and
compared with what the selectors read from the facts — after a full rebuild, and again
after late changes picked up by today's trail-driven rollup.
"""

import datetime as dt
import math
import random
import statistics
from collections import Counter
from decimal import Decimal

import pytest
from django.utils import timezone

from metrics import selectors
from metrics.rollup import rebuild_facts, rollup_window
from metrics.selectors import Scope
from p2p.audit import audit_record
from p2p.models import AuditAction
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.payments import Payment
from tests import factories
from tests.metrics.builders import (
    make_cost_center,
    make_exception,
    make_invoice,
    make_payment,
    make_po,
)

pytestmark = pytest.mark.django_db

FIRST = dt.date(2026, 4, 6)
DAYS = 21
LAST = FIRST + dt.timedelta(days=DAYS - 1)
MATCHED = ("approved", "scheduled", "paid")


def local_day(moment: dt.datetime | None) -> dt.date | None:
    return None if moment is None else timezone.localtime(moment).date()


def end_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def random_moment(rng: random.Random, day: dt.date) -> dt.datetime:
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60)))
    )


def generate(rng: random.Random, people) -> dict:
    """Three POs over two vendors, buyers and cost centers, and ~60 invoices in random states."""
    buyers = [people["buyer"], factories.make_user(f"bea{rng.random()}", "buyer")]
    centers = [
        make_cost_center("CC-100", "Ops", "Operations"),
        make_cost_center("CC-200", "Mkt", "Marketing"),
    ]
    vendors = [
        factories.make_vendor(f"Vendor A {rng.random()}"),
        factories.make_vendor(f"Vendor B {rng.random()}"),
    ]
    pos = [
        make_po(vendors[0], buyers[0], centers[0]),
        make_po(vendors[1], buyers[1], centers[1]),
        make_po(vendors[0], buyers[1], centers[1], currency="USD"),
    ]
    now = timezone.now()
    for _n in range(60):
        po = rng.choice(pos) if rng.random() < 0.8 else None
        vendor = po.vendor if po else rng.choice(vendors)
        currency = po.currency if po else rng.choice(["EUR", "EUR", "USD"])
        captured = random_moment(rng, FIRST + dt.timedelta(days=rng.randrange(DAYS)))
        invoice_date = local_day(captured) - dt.timedelta(days=rng.randrange(3))
        kind = rng.choice(["pending", "clean", "clean", "exception", "exception"])
        fields = {
            "po": po,
            "captured": captured,
            "currency": currency,
            "total": f"{rng.randrange(1, 5000)}.{rng.randrange(100):02d}",
            "credit_note": rng.random() < 0.1,
            "due": invoice_date + dt.timedelta(days=rng.choice([5, 14, 30])),
        }
        if rng.random() < 0.4:
            fields["discount_date"] = invoice_date + dt.timedelta(days=rng.choice([3, 10]))
            fields["discount"] = f"{rng.randrange(1, 50)}.00"
        approved = None
        exception_plan = None
        if kind == "pending":
            fields["status"] = "pending_match"
        else:
            matched_at = captured + dt.timedelta(minutes=rng.randrange(1, 3000))
            fields.update(first_matched=matched_at)
            if kind == "clean":
                fields.update(first_pass=True, touchless=True, status="approved")
                approved = matched_at
            else:
                fields.update(first_pass=False, status="exception")
                type_ = rng.choice(["price_variance", "missing_receipt", "no_po", "duplicate"])
                resolved = (
                    matched_at + dt.timedelta(minutes=rng.randrange(30, 6000))
                    if rng.random() < 0.7
                    else None
                )
                exception_plan = (type_, matched_at, resolved)
                if resolved and type_ == "duplicate":
                    fields["status"] = "rejected"
                elif resolved:
                    fields["status"] = "approved"
                    approved = resolved
        paid = None
        if approved is not None:
            fields["approved"] = approved
            if rng.random() < 0.6:
                paid = timezone.make_aware(
                    dt.datetime.combine(
                        local_day(approved) + dt.timedelta(days=rng.randrange(15)), dt.time(12)
                    )
                )
                if paid < now:
                    fields.update(status="paid", paid=paid)
                else:
                    paid = None
        invoice = make_invoice(vendor, **fields)
        if exception_plan:
            type_, opened, resolved = exception_plan
            make_exception(
                invoice, type_, opened=opened, resolved=resolved, amount=f"{rng.randrange(200)}.00",
                root_cause=rng.choice(["stale_po_price", "keying_error", "no_po"]) if resolved else "",
            )  # fmt: skip
        if paid is not None:
            on_time = invoice.discount_date and local_day(paid) <= invoice.discount_date
            make_payment(
                invoice, preparer=people["ap_clerk"],
                discount_taken=str(invoice.discount_amount) if on_time else "0",
            )  # fmt: skip
    return {"vendors": vendors, "buyers": buyers, "centers": centers}


# --- the direct recomputation ---------------------------------------------------------------


def dims(invoice: Invoice) -> tuple:
    line = min(invoice.lines.all(), key=lambda line: line.line_no, default=None)
    center = None
    if line is not None:
        center = line.cost_center_id or (line.po_line.cost_center_id if line.po_line else None)
    po = invoice.purchase_order
    if center is None and po is not None and po.request_id:
        center = po.request.cost_center_id
    return invoice.vendor_id, center, po.buyer_id if po else None


def in_scope(invoice: Invoice, scope: Scope) -> bool:
    vendor, center, buyer = dims(invoice)
    return (
        (scope.vendor_id is None or vendor == scope.vendor_id)
        and (scope.cost_center_ids is None or center in scope.cost_center_ids)
        and (scope.buyer_id is None or buyer == scope.buyer_id)
    )


def direct(scope: Scope, start: dt.date, end: dt.date) -> dict:
    """Every KPI of [start, end] for the scope, straight from the documents."""
    today = timezone.localdate()
    inside = lambda day: day is not None and start <= day <= end  # noqa: E731
    counts: Counter = Counter()
    money: dict[str, Counter] = {}
    durations: dict[str, list[int]] = {"approve_days": [], "pay_days": []}
    exceptions: Counter = Counter()
    invoices = [
        i
        for i in Invoice.objects.select_related("purchase_order__request").prefetch_related(
            "lines__po_line", "exceptions", "payments"
        )
        if in_scope(i, scope)
    ]
    for invoice in invoices:
        purse = money.setdefault(invoice.currency, Counter())
        captured = local_day(invoice.captured_at)
        matched = invoice.status in MATCHED
        approved_day = local_day(invoice.approved_at) if matched else None
        paid_day = local_day(invoice.paid_at) if invoice.status == "paid" else None
        if inside(captured):
            counts["captured"] += 1
            counts["matched"] += matched
            counts["clean"] += not invoice.exceptions.all()
            spend = Decimal("0") if invoice.status == "rejected" else invoice.total_amount
            spend = -spend if invoice.document_type == "credit_note" else spend
            purse["spend"] += spend
            purse["spend_po"] += spend if invoice.purchase_order_id else 0
        if inside(local_day(invoice.first_matched_at)):
            counts["attempts"] += 1
            counts["first_pass"] += bool(invoice.first_pass)
        if inside(approved_day):
            counts["approved"] += 1
            counts["touchless"] += invoice.touchless
            durations["approve_days"].append((approved_day - captured).days)
        if inside(paid_day):
            counts["paid"] += 1
            counts["on_time"] += paid_day <= invoice.due_date
            durations["pay_days"].append((paid_day - captured).days)
        counts_discount = (
            invoice.document_type == "invoice"
            and invoice.discount_amount > 0
            and invoice.discount_date is not None
            and invoice.status != "rejected"
            and (paid_day is not None or invoice.discount_date < today)
        )
        if counts_discount and inside(
            min(paid_day or invoice.discount_date, invoice.discount_date)
        ):
            purse["available"] += invoice.discount_amount
            purse["taken"] += sum(
                p.discount_taken for p in invoice.payments.all() if p.status == Payment.Status.PAID
            )
        for x in invoice.exceptions.all():
            cause = x.root_cause or x.suggested_root_cause
            if inside(local_day(x.opened_at)):
                exceptions[("opened", cause, x.owner)] += 1
            if x.status == InvoiceException.Status.RESOLVED and inside(local_day(x.resolved_at)):
                exceptions[("resolved", cause, x.owner)] += 1
                hours = math.floor((x.resolved_at - x.opened_at).total_seconds() / 3600)
                durations.setdefault(f"resolve_hours_{x.owner}", []).append(hours)
            if x.opened_at < end_of(end) and not (
                x.status == InvoiceException.Status.RESOLVED and x.resolved_at < end_of(end)
            ):
                age = (end - local_day(x.opened_at)).days
                exceptions[("open", x.type, age)] += 1
    return {"counts": counts, "money": money, "durations": durations, "exceptions": exceptions}


def median(values: list[int]) -> Decimal | None:
    return Decimal(str(statistics.median(values))) if values else None


def assert_facts_equal_direct(scope: Scope, start: dt.date, end: dt.date) -> None:
    expected = direct(scope, start, end)
    totals = selectors.daily_kpis(scope, start, end).between(start, end)
    counts = expected["counts"]
    assert (
        totals.invoices_captured, totals.invoices_matched, totals.invoices_without_exception,
        totals.first_match_attempts, totals.first_pass_matches, totals.invoices_approved,
        totals.touchless_approvals, totals.invoices_paid, totals.paid_on_time,
    ) == (
        counts["captured"], counts["matched"], counts["clean"], counts["attempts"],
        counts["first_pass"], counts["approved"], counts["touchless"], counts["paid"],
        counts["on_time"],
    ), (scope, start, end)  # fmt: skip
    for amounts in totals.money:
        purse = expected["money"].get(amounts.currency, Counter())
        assert (
            amounts.spend_total, amounts.spend_on_po, amounts.discount_available,
            amounts.discount_taken,
        ) == (purse["spend"], purse["spend_po"], purse["available"], purse["taken"])  # fmt: skip
    histograms = selectors.duration_stats(
        scope, {"p": (start, end)}, list(expected["durations"]) + ["resolve_hours_buyer"]
    )
    for measure, values in expected["durations"].items():
        assert histograms[("p", measure)].median == median(values), measure
    slices = selectors.exception_slices(scope, start, end)
    from_facts: Counter = Counter()
    for item in slices:
        from_facts[("opened", item.root_cause, item.owner)] += item.opened
        from_facts[("resolved", item.root_cause, item.owner)] += item.resolved
    direct_events = {k: v for k, v in expected["exceptions"].items() if k[0] != "open" and v}
    assert {k: v for k, v in from_facts.items() if v} == direct_events
    snapshot = selectors.open_snapshots(scope, [end])[end]
    assert snapshot.total == sum(v for k, v in expected["exceptions"].items() if k[0] == "open")


def random_checks(rng: random.Random, world: dict) -> None:
    scopes = [
        Scope(),
        Scope(vendor_id=world["vendors"][0].pk),
        Scope(cost_center_ids=(world["centers"][1].pk,)),
        Scope(buyer_id=world["buyers"][0].pk),
        Scope(vendor_id=world["vendors"][0].pk, buyer_id=world["buyers"][1].pk),
    ]
    for scope in scopes:
        for _ in range(3):
            start = FIRST + dt.timedelta(days=rng.randrange(DAYS))
            end = min(start + dt.timedelta(days=rng.randrange(1, 25)), LAST + dt.timedelta(days=20))
            assert_facts_equal_direct(scope, start, end)


@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_facts_equal_a_direct_recomputation(people, setup_org, seed):
    rng = random.Random(seed)
    world = generate(rng, people)
    rebuild_facts(FIRST - dt.timedelta(days=3), LAST + dt.timedelta(days=20))
    random_checks(rng, world)

    # Late changes, as the services make them: stamped now, each with a trail entry.
    now = timezone.now()
    changed = rng.sample(list(Invoice.objects.filter(status__in=["approved", "exception"])), 6)
    for invoice in changed:
        if invoice.status == "approved":
            invoice.status, invoice.approved_at = "pending_match", None
        else:
            invoice.status, invoice.approved_at = "approved", now
            invoice.exceptions.filter(status="open").update(
                status="resolved", resolved_at=now, root_cause="keying_error"
            )
        invoice.save(update_fields=["status", "approved_at"])
        audit_record(obj=invoice, action=AuditAction.STATUS, by=None, to_status=invoice.status)
    rollup_window(timezone.localdate(), timezone.localdate(), scan_invoices=False)
    random_checks(rng, world)
    today = timezone.localdate()
    assert_facts_equal_direct(Scope(), today, today)
    assert_facts_equal_direct(Scope(vendor_id=world["vendors"][1].pk), today, today)
