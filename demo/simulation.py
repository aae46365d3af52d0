"""The demo's 90 days of documents, replayed in date order through the real services.

Documents are created by the real services (so the audit trail, matching and payment runs
are real) while a small scheduler replays them in date order; the services stamp
`timezone.now()`, so each step's timestamps are moved back to the simulated moment right
after it. Statuses are never written directly.
"""

import contextlib
import datetime as dt
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

from demo.reference import VENDOR_BY_KEY, VENDORS, DemoVendor, Reference
from p2p.exceptions import DomainError
from p2p.money import ZERO, round_money
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchResult
from payables.models.payments import PaymentRun
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.services.matching import MATCHABLE, run_matching
from payables.services.payments import (
    company_settings_update,
    payment_run_approve,
    payment_run_propose,
)
from payables.services.resolutions import exception_resolve
from payables.services.settlement import payment_run_mark_paid
from procurement.models import (
    ApprovalStep,
    Category,
    PurchaseOrder,
    PurchaseRequest,
    Receipt,
)
from procurement.services.approvals import approval_decide
from procurement.services.orders import po_create_from_request, po_issue
from procurement.services.receipts import ReceiptLineInput, receipt_post
from procurement.services.requests import (
    LineInput,
    request_create,
    request_submit,
    request_withdraw,
)
from vendors import services as vendor_services
from vendors.models import BankAccount, Vendor

# Whom routine requests go to, in turn.
ROUTINE_ROTATION = ("office", "it", "print", "office", "agency", "it", "facilities", "office",
                    "software", "print", "it", "agency")  # fmt: skip
# Weekly payment runs (days ago); the one 56 days ago was skipped for the summer
# closing, so invoices due that week were paid late.
RUN_DAYS = (84, 77, 70, 63, 49, 42, 35, 28, 21, 14, 7)


# --- the simulation -----------------------------------------------------------------------

Process = Iterator[dt.datetime]


@dataclass
class InvoicePlan:
    """One vendor invoice on a purchase: when it arrives, what it bills, what happens next."""

    # Days after the PO was issued (services) or the last receipt (goods); negative: before
    # the first receipt.
    after_days: int
    # Line no → (qty, unit price); None bills every line as ordered.
    billed: dict[int, tuple[str, str]] | None = None
    # Days between the invoice date and its arrival in AP.
    invoice_date_lag: int = 1
    # A resent copy with a new number and the same amount: a fuzzy duplicate.
    same_total_as_previous: bool = False
    # (days later, username, resolution, root cause, note) for its first open exception.
    resolve: tuple[int, str, str, str, str] | None = None


@dataclass
class Purchase:
    """A request that goes as far as the story needs: draft … ordered, received, invoiced."""

    vendor: str
    title: str
    days_ago: int
    # (description, qty, unit price, unit)
    lines: list[tuple[str, str, str, str]]
    # draft, pending, pending_step2, approved, rejected, returned, withdrawn, issued or invoiced
    stop_at: str = "invoiced"
    # (days after the PO was issued, line no → qty received)
    receipts: list[tuple[int, dict[int, str]]] | None = None
    invoices: list[InvoicePlan] = field(default_factory=list)
    comment: str = ""
    justification: str = ""


class Simulation:
    """Replays the demo's 90 days in date order through the services."""

    def __init__(self, people: dict[str, User], reference: Reference, *, today: dt.date):
        self.people = people
        self.ref = reference
        self.today = today
        self.rng = random.Random(2026)
        self.vendors: dict[str, Vendor] = {}
        self.invoice_numbers: dict[str, int] = {}
        # Anything stamped at or after this instant was stamped by a service during the seed.
        self.real_start = timezone.now()
        self.now = self.real_start

    # time ---------------------------------------------------------------------------------

    def moment(self, days_ago: int, hour: int, minute: int = 0) -> dt.datetime:
        day = self.today - dt.timedelta(days=days_ago)
        return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))

    def run(self) -> None:
        """Create the vendors, then interleave every purchase, run and vendor event by time."""
        # The paying account, so demo runs can be exported as pain.001 files.
        company_settings_update(
            by=self.people["fiona"],
            company_name="Noordwind Facilities B.V.",
            iban="NL85INGB0006541237",
            bic="INGBNL2A",
            cost_of_capital_pct=Decimal("8"),
            run_approval_threshold=Decimal("100000"),
        )
        self.create_vendors()
        processes: list[Process] = [self.payment_runs(), self.vendor_events()]
        processes += [self.purchase(p) for p in self.purchases()]
        queue: list[tuple[dt.datetime, int, Process]] = []
        for seq, process in enumerate(processes):
            when = next(process, None)
            if when is not None:
                heapq.heappush(queue, (when, seq, process))
        seq = len(processes)
        while queue:
            when, _, process = heapq.heappop(queue)
            self.now = when
            following = next(process, None)  # runs the step scheduled for `when`
            if following is not None:
                seq += 1
                heapq.heappush(queue, (max(following, when), seq, process))
        self.propose_todays_run()

    def backdate(
        self,
        model: type[models.Model],
        ids: list[int] | int,
        *fields: str,
        at: dt.datetime | None = None,
        lookup: str = "pk__in",
    ) -> None:
        """Move timestamps a service just set to the simulated moment (seed data only)."""
        ids = [ids] if isinstance(ids, int) else ids
        at = at or self.now
        for name in fields:
            model._default_manager.filter(**{lookup: ids, f"{name}__gte": self.real_start}).update(
                **{name: at}
            )

    # vendors ------------------------------------------------------------------------------

    def create_vendors(self) -> None:
        bob, martin = self.people["bob"], self.people["martin"]
        for demo in VENDORS:
            # The furniture maker was registered this week and is still onboarding.
            onboarded = self.moment(3, 9, 40) if demo.key == "furniture" else self.moment(150, 10)
            vendor = vendor_services.vendor_create(
                by=bob,
                name=demo.name,
                payment_terms=self.ref.terms[demo.terms],
                tax_id=demo.tax_id,
                country=demo.country,
                currency="EUR",
                email=demo.email,
                remit_to=f"{demo.name}\nAccounts receivable\n{demo.city}",
            )
            account = vendor_services.bank_account_request(
                vendor=vendor,
                by=bob,
                account_holder=demo.name,
                iban=demo.iban,
                bic=demo.bic,
            )
            vendor_services.bank_account_verify(account=account, by=martin)
            if demo.key != "furniture":  # still onboarding: no POs or payments yet
                vendor_services.vendor_set_status(
                    vendor=vendor, status=Vendor.Status.ACTIVE, by=bob
                )
            self.backdate(Vendor, vendor.pk, "created_at", at=onboarded)
            self.backdate(BankAccount, account.pk, "requested_at", at=onboarded)
            self.backdate(
                BankAccount, account.pk, "verified_at", at=onboarded + dt.timedelta(hours=3)
            )
            self.vendors[demo.key] = vendor

    def vendor_events(self) -> Process:
        """The vendor that gets blocked and the bank change nobody has verified yet."""
        yield self.moment(20, 15, 30)
        vendor_services.vendor_set_status(
            vendor=self.vendors["facilities"],
            status=Vendor.Status.BLOCKED,
            by=self.people["martin"],
            note="Repeated over-billing; blocked until procurement has reviewed the contract.",
        )
        yield self.moment(9, 11, 15)
        # The vendor's letter announces new bank details; nobody has verified them yet, so
        # its approved invoices stay out of payment runs.
        account = vendor_services.bank_account_request(
            vendor=self.vendors["cleaning"],
            by=self.people["carla"],
            account_holder=VENDOR_BY_KEY["cleaning"].name,
            iban="NL69INGB0123456789",
            bic="INGBNL2A",
        )
        self.backdate(BankAccount, account.pk, "requested_at")

    # purchases ----------------------------------------------------------------------------

    def purchases(self) -> list[Purchase]:
        return self.routine_purchases() + self.story_purchases()

    def routine_purchases(self) -> list[Purchase]:
        """Everyday buying every two to three days, mostly matching without a touch."""
        rotation = ROUTINE_ROTATION
        plans = []
        days_ago, turn = 100, 0
        while days_ago >= 16:
            key = rotation[turn % len(rotation)]
            turn += 1
            if key == "facilities" and days_ago < 35:
                key = "office"  # the facilities vendor gets blocked; nothing new goes there
            demo = VENDOR_BY_KEY[key]
            picks = self.rng.sample(
                demo.catalog, k=min(len(demo.catalog), self.rng.choice((1, 1, 2, 3)))
            )
            lines = [
                (d, str(self.rng.randint(lo, hi)), price, uom) for d, price, uom, lo, hi in picks
            ]
            goods = demo.category != Category.SERVICES
            lag = (
                self.rng.choice((0, 1, 1, 2, 3, 9))
                if demo.terms in ("2/10N30", "1/15N45")
                else self.rng.choice((0, 1, 2, 4))
            )
            plan = InvoicePlan(
                after_days=self.rng.randint(1, 4) if goods else self.rng.randint(5, 12),
                invoice_date_lag=lag,
            )
            if self.rng.random() < 0.18:
                # The vendor billed a newer list price than the PO: the buyer accepts it.
                plan.billed = {n: (q, price) for n, (_d, q, price, _u) in enumerate(lines, start=1)}
                qty, price = plan.billed[1]
                plan.billed[1] = (qty, str(round_money(Decimal(price) * Decimal("1.06"))))
                plan.resolve = (
                    self.rng.randint(1, 3),
                    "bob",
                    "accept_variance",
                    "stale_po_price",
                    "Vendor price list changed after the PO; new price confirmed.",
                )
            receipts = None
            if goods:
                first_day = self.rng.randint(2, 6)
                ordered = {n: int(q) for n, (_d, q, _p, _u) in enumerate(lines, start=1)}
                if self.rng.random() < 0.25 and min(ordered.values()) >= 2:
                    # Delivered in two parts a few days apart.
                    part = {n: q // 2 for n, q in ordered.items()}
                    receipts = [
                        (first_day, {n: str(q) for n, q in part.items()}),
                        (first_day + 3, {n: str(ordered[n] - q) for n, q in part.items()}),
                    ]
                else:
                    receipts = [(first_day, {n: str(q) for n, q in ordered.items()})]
            plans.append(
                Purchase(
                    key,
                    self.title_for(demo, lines),
                    days_ago,
                    lines,
                    receipts=receipts,
                    invoices=[plan],
                )
            )
            days_ago -= self.rng.choice((2, 2, 3, 3, 4))
        return plans

    @staticmethod
    def title_for(demo: DemoVendor, lines: list[tuple[str, str, str, str]]) -> str:
        first = lines[0][0].split(",")[0]
        return first if len(lines) == 1 else f"{first} and {len(lines) - 1} more"

    def story_purchases(self) -> list[Purchase]:
        """The cases the demo is about: each exception type, resolved and open, every state."""
        accept_stale_price = (
            4,
            "martin",
            "accept_variance",
            "stale_po_price",
            "Schneider's new price list applies; the PO used last quarter's quote.",
        )
        reject_over_billing = (
            2,
            "carla",
            "reject_invoice",
            "over_billing",
            "We ordered and received 40 panels; asked Rheinland for a corrected invoice.",
        )
        mark_duplicate = (
            1,
            "carla",
            "mark_duplicate",
            "duplicate_submission",
            "Same brochures, same amount: the vendor re-sent the invoice with a new number.",
        )
        monthly = {1: ("1", "390.00")}
        cleaning_month = {1: ("1", "2450.00")}
        # fmt: off
        return [
            # Monthly contracts billed against one PO (two-way match on the ordered months).
            Purchase("software", "Jira Cloud Standard, this quarter", 98,
                     [("Jira Cloud Standard, 50 users, monthly", "3", "390.00", "MO")],
                     invoices=[InvoicePlan(8, monthly), InvoicePlan(38, monthly), InvoicePlan(68, monthly)]),
            Purchase("cleaning", "Office cleaning contract, this quarter", 96,
                     [("Office cleaning, monthly contract", "3", "2450.00", "MO")],
                     invoices=[InvoicePlan(5, cleaning_month, 2), InvoicePlan(35, cleaning_month, 2),
                               InvoicePlan(65, cleaning_month, 2)]),
            # A stale PO price on a large order: above 500 EUR, so the AP manager accepts it.
            Purchase("it", "Laptops for the new sales team", 74,
                     [("Dell Latitude 5450 laptop, 16 GB", "12", "1149.00", "EA")], receipts=[(3, {1: "12"})],
                     invoices=[InvoicePlan(1, {1: ("12", "1199.00")}, resolve=accept_stale_price)]),
            # Billed before the goods were booked in: the requester's receipt clears it.
            Purchase("office", "Paper and toner for the print room", 52,
                     [("A4 copy paper 80 g, box of 5 reams", "40", "23.50", "BOX"),
                      ("HP 305A toner cartridge, black", "10", "89.90", "EA")],
                     receipts=[(6, {1: "40", 2: "10"})], invoices=[InvoicePlan(-3)]),
            # Over-billing: rejected, then the corrected invoice matches.
            Purchase("facilities", "LED panels for the 2nd floor", 47,
                     [("LED panel 60×60, 36 W", "40", "38.50", "EA")], receipts=[(4, {1: "40"})],
                     invoices=[InvoicePlan(1, {1: ("48", "38.50")}, resolve=reject_over_billing),
                               InvoicePlan(6, {1: ("40", "38.50")})]),
            # A resent copy with a new number: the fuzzy duplicate is caught and rejected.
            Purchase("print", "Brochures for the Utrecht trade fair", 40,
                     [("Trade-fair brochure A4, 16 pages", "1500", "1.85", "EA")], receipts=[(5, {1: "1500"})],
                     invoices=[InvoicePlan(1),
                               InvoicePlan(3, invoice_date_lag=2, same_total_as_previous=True,
                                           resolve=mark_duplicate)]),
            # Open at the end of the demo: an exception in each owner's queue.
            Purchase("it", "Monitors for the finance team", 14,
                     [('Dell P2724H 27" monitor', "10", "239.00", "EA")], receipts=[(4, {1: "10"})],
                     invoices=[InvoicePlan(6, {1: ("10", "251.00")})]),
            Purchase("print", "Brochures for the Rotterdam expo", 15,
                     [("Trade-fair brochure A4, 16 pages", "2000", "1.85", "EA")], receipts=[(5, {1: "1500"})],
                     invoices=[InvoicePlan(5, {1: ("2000", "1.85")})]),
            Purchase("agency", "Autumn campaign design", 24,
                     [("Campaign design, agency hours", "40", "95.00", "HR")],
                     invoices=[InvoicePlan(18, {1: ("46", "95.00")})]),
            # Everyday flow still under way.
            Purchase("office", "Pens and files for reception", 8,
                     [("Ballpoint pens, box of 50", "6", "12.40", "BOX"),
                      ("Lever arch files, pack of 10", "8", "18.75", "PK")],
                     receipts=[(3, {1: "6", 2: "8"})], invoices=[InvoicePlan(2)]),
            Purchase("it", "Docking stations for hot desks", 9,
                     [("USB-C docking station", "8", "189.00", "EA")], receipts=[(4, {1: "4"})]),
            Purchase("cleaning", "Window cleaning, this month", 18,
                     [("Window cleaning, all floors", "1", "680.00", "EA")], invoices=[InvoicePlan(7)]),
            Purchase("agency", "Social media management, this month", 12,
                     [("Social media management, monthly", "1", "1800.00", "MO")], stop_at="issued"),
            # Requests in every state before ordering.
            Purchase("furniture", "Standing desks for the 2nd floor", 1,
                     [("Electric standing desk 160×80", "8", "689.00", "EA")], stop_at="draft"),
            Purchase("it", "Headsets for the support team", 1,
                     [("Jabra Evolve2 55 headset", "12", "149.00", "EA")], stop_at="pending",
                     justification="Four new support agents start next month."),
            Purchase("it", "Laptop refresh for finance", 2,
                     [("Dell Latitude 5450 laptop, 16 GB", "10", "1149.00", "EA")], stop_at="pending_step2",
                     justification="Finance laptops are five years old and out of warranty."),
            Purchase("office", "Toner and paper restock", 4,
                     [("HP 305A toner cartridge, black", "12", "89.90", "EA"),
                      ("A4 copy paper 80 g, box of 5 reams", "30", "23.50", "BOX")], stop_at="approved"),
            Purchase("furniture", "Espresso machine for the 3rd floor pantry", 6,
                     [("Bean-to-cup espresso machine", "1", "2850.00", "EA")], stop_at="rejected",
                     comment="Facilities already ordered one machine for the whole building."),
            Purchase("print", "Stand materials for the Rotterdam expo", 5,
                     [("Roll-up banner 85×200 cm", "6", "129.00", "EA")], stop_at="returned",
                     comment="Please attach the printer's quote and add the brochures as a separate line."),
            Purchase("agency", "Copywriting for the annual report", 11,
                     [("Copywriting, hours", "10", "85.00", "HR")], stop_at="withdrawn"),
        ]
        # fmt: on

    def purchase(self, plan: Purchase) -> Process:
        """One purchase, step by step; each `yield` waits until the simulated moment."""
        p = self.people
        demo = VENDOR_BY_KEY[plan.vendor]
        yield self.moment(plan.days_ago, 9, 10 + self.rng.randint(0, 40))
        request = request_create(
            by=p["rita"],
            title=plan.title,
            cost_center=self.ref.cost_centers[demo.cost_center],
            gl_account=self.ref.gl_accounts[demo.gl_account],
            category=demo.category,
            preferred_vendor=self.vendors[plan.vendor],
            justification=plan.justification,
            needed_by=(self.now + dt.timedelta(days=21)).date(),
            lines=[
                LineInput(d, Decimal(q), Decimal(price), uom) for d, q, price, uom in plan.lines
            ],
        )
        self.backdate(PurchaseRequest, request.pk, "created_at")
        if plan.stop_at == "draft":
            return
        yield self.now + dt.timedelta(minutes=20)
        request_submit(request=request, by=p["rita"])
        self.backdate(PurchaseRequest, request.pk, "submitted_at")
        self.backdate(ApprovalStep, [request.pk], "created_at", lookup="request_id__in")
        if plan.stop_at == "withdrawn":
            yield self.now + dt.timedelta(hours=3)
            request_withdraw(request=request, by=p["rita"])
            return
        if plan.stop_at == "pending":
            return
        yield self.now + dt.timedelta(hours=5)
        decision = {"rejected": "reject", "returned": "return"}.get(plan.stop_at, "approve")
        self.decide(request, p["alex"], decision, plan.comment)
        if decision != "approve" or plan.stop_at == "pending_step2":
            return
        if request.approvals.filter(status=ApprovalStep.Status.PENDING).exists():
            yield self.now + dt.timedelta(hours=20)
            self.decide(request, p["fiona"], "approve", "Within the IT budget for this quarter.")
        if plan.stop_at == "approved":
            return
        yield self.now + dt.timedelta(hours=22)
        request.refresh_from_db()
        po = po_create_from_request(request=request, vendor=self.vendors[plan.vendor], by=p["bob"])
        po = po_issue(po=po, by=p["bob"])
        self.backdate(PurchaseOrder, po.pk, "created_at", "issued_at")
        issued = self.now
        if plan.stop_at == "issued":
            return
        lines = {line.line_no: line for line in po.lines.all()}
        last_receipt = issued
        receipts = sorted(plan.receipts or [], key=lambda r: r[0])
        invoices = list(plan.invoices)
        # Goods invoices normally follow the last receipt; a negative delay arrives before it.
        early = [inv for inv in invoices if inv.after_days < 0]
        for days, quantities in receipts:
            for inv in early:
                yield issued + dt.timedelta(days=days + inv.after_days, hours=2)
                self.capture(po, demo, inv)
            early = []
            yield issued + dt.timedelta(days=days, hours=2)
            receipt = receipt_post(
                po=po,
                by=p["rita"],
                received_on=self.now.date(),
                note="Delivered to reception.",
                lines=[ReceiptLineInput(lines[no].pk, Decimal(q)) for no, q in quantities.items()],
            )
            self.backdate(Receipt, receipt.pk, "created_at")
            # What the receipt's on-commit hook would queue for a worker, run here and now.
            waiting = po.invoices.filter(status__in=MATCHABLE).values_list("pk", flat=True)
            self.match(list(waiting))
            last_receipt = self.now
        previous: Invoice | None = None
        for inv in invoices:
            if inv.after_days < 0:
                continue
            base = last_receipt if receipts else issued
            yield base + dt.timedelta(days=inv.after_days, hours=1)
            previous = self.capture(po, demo, inv, previous=previous)
            if inv.resolve:
                yield self.now + dt.timedelta(days=inv.resolve[0], hours=2)
                self.resolve(previous, *inv.resolve[1:])

    def decide(self, request: PurchaseRequest, user: User, decision: str, comment: str) -> None:
        step = request.approvals.get(status=ApprovalStep.Status.PENDING)
        approval_decide(step=step, by=user, decision=decision, comment=comment)
        self.backdate(ApprovalStep, step.pk, "decided_at")
        self.backdate(PurchaseRequest, request.pk, "decided_at")

    def next_invoice_number(self, demo: DemoVendor) -> str:
        n = self.invoice_numbers.get(demo.key, 0) + 1
        self.invoice_numbers[demo.key] = n
        return f"{demo.invoice_prefix}{410 + n * 7:05d}"

    def capture(
        self,
        po: PurchaseOrder,
        demo: DemoVendor,
        plan: InvoicePlan,
        previous: Invoice | None = None,
    ) -> Invoice:
        """AP keys the vendor's invoice against the PO, then the engine matches it."""
        lines = {line.line_no: line for line in po.lines.all()}
        billed = plan.billed or {
            no: (str(line.quantity), str(line.unit_price)) for no, line in lines.items()
        }
        invoice_lines = [
            InvoiceLineInput(
                lines[no].description,
                Decimal(q),
                Decimal(price),
                po_line_id=lines[no].pk,
                tax_rate=demo.tax_rate,
            )
            for no, (q, price) in billed.items()
        ]
        net = sum((round_money(Decimal(q) * Decimal(price)) for q, price in billed.values()), ZERO)
        invoice_date = (self.now - dt.timedelta(days=plan.invoice_date_lag)).date()
        if plan.same_total_as_previous and previous is not None:
            invoice_date = previous.invoice_date + dt.timedelta(days=1)
        invoice = invoice_capture(
            by=self.people["carla"],
            vendor=po.vendor,
            number=self.next_invoice_number(demo),
            invoice_date=invoice_date,
            currency=po.currency,
            lines=invoice_lines,
            tax_amount=round_money(net * demo.tax_rate / 100),
            purchase_order=po,
            source=Invoice.Source.UBL if demo.country == "NL" else Invoice.Source.FORM,
            captured_at=self.now,
        )
        self.match([invoice.pk])
        invoice.refresh_from_db()
        return invoice

    def capture_without_po(self, demo: DemoVendor, description: str, amount: str) -> Invoice:
        net = Decimal(amount)
        invoice = invoice_capture(
            by=self.people["carla"],
            vendor=self.vendors[demo.key],
            number=self.next_invoice_number(demo),
            invoice_date=(self.now - dt.timedelta(days=2)).date(),
            currency="EUR",
            lines=[InvoiceLineInput(description, Decimal("1"), net, tax_rate=demo.tax_rate)],
            tax_amount=round_money(net * demo.tax_rate / 100),
            captured_at=self.now,
        )
        self.match([invoice.pk])
        invoice.refresh_from_db()
        return invoice

    def match(self, invoice_ids: list[int]) -> None:
        """Run the engine directly (not via Celery) and date its work at the simulated moment."""
        if not invoice_ids:
            return
        run_matching(invoice_ids)
        self.backdate(Invoice, invoice_ids, "first_matched_at", "approved_at")
        self.backdate(MatchResult, invoice_ids, "matched_at", lookup="invoice_id__in")
        self.backdate(
            InvoiceException, invoice_ids, "opened_at", "resolved_at", lookup="invoice_id__in"
        )

    def resolve(
        self, invoice: Invoice, username: str, resolution: str, root_cause: str, note: str
    ) -> None:
        exceptions = list(
            invoice.exceptions.filter(status=InvoiceException.Status.OPEN).order_by("pk")
        )
        if not exceptions:
            return
        exception_resolve(
            exception=exceptions[0],
            by=self.people[username],
            resolution=resolution,
            root_cause=root_cause,
            note=note,
        )
        for other in exceptions[1:]:
            if InvoiceException.objects.filter(
                pk=other.pk, status=InvoiceException.Status.OPEN
            ).exists():
                exception_resolve(
                    exception=other,
                    by=self.people[username],
                    resolution=resolution,
                    root_cause=root_cause,
                    note=note,
                )
        self.match([invoice.pk])

    # non-PO invoices and payments ---------------------------------------------------------

    def payment_runs(self) -> Process:
        """Weekly runs prepared by Carla and approved by Fiona; no-PO invoices on the way."""
        no_po_days = {
            66: (
                "cleaning",
                "Emergency cleaning after water leak, ground floor",
                "640.00",
                (
                    "martin",
                    "accept_variance",
                    "no_po",
                    "Emergency call-out approved by the facilities manager.",
                ),
            ),
            6: ("software", "Additional Adobe Creative Cloud licences (3)", "2159.64", None),
        }
        for days_ago in sorted({*RUN_DAYS, *no_po_days}, reverse=True):
            if days_ago in no_po_days:
                key, description, amount, resolution = no_po_days[days_ago]
                yield self.moment(days_ago, 8, 45)
                invoice = self.capture_without_po(VENDOR_BY_KEY[key], description, amount)
                if resolution:
                    yield self.now + dt.timedelta(days=1)
                    self.resolve(invoice, *resolution)
            if days_ago not in RUN_DAYS:
                continue
            yield self.moment(days_ago, 9, 30)
            pay_date = self.now.date()
            try:
                run = payment_run_propose(
                    by=self.people["carla"],
                    pay_date=pay_date,
                    horizon_date=pay_date + dt.timedelta(days=7),
                )
            except DomainError:
                continue  # nothing due this week
            self.backdate(PaymentRun, run.pk, "created_at")
            yield self.now + dt.timedelta(hours=2)
            payment_run_approve(run=run, by=self.people["fiona"])
            self.backdate(PaymentRun, run.pk, "approved_at")
            yield self.now + dt.timedelta(hours=4)
            payment_run_mark_paid(run=run, by=self.people["carla"], paid_on=pay_date)
            self.backdate(PaymentRun, run.pk, "paid_at")

    def propose_todays_run(self) -> None:
        """This week's run, proposed and waiting for Fiona's approval."""
        pay_date = self.today + dt.timedelta(days=1)
        with contextlib.suppress(DomainError):
            payment_run_propose(
                by=self.people["carla"],
                pay_date=pay_date,
                horizon_date=pay_date + dt.timedelta(days=10),
            )
