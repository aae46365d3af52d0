"""The rollup on the known week: every KPI worked out by hand, then idempotency and concurrency."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from metrics import selectors
from metrics.models import (
    DailyExceptionFact,
    DailyKpiFact,
    DurationFact,
    InvoiceKpi,
    OpenExceptionFact,
)
from metrics.rollup import rebuild_facts, rollup_window
from metrics.selectors import Scope
from p2p.audit import audit_record
from p2p.models import AuditAction
from tests.metrics.builders import at, make_exception
from tests.metrics.conftest import FRI, MON, SUN, THU, TUE

pytestmark = pytest.mark.django_db

EVERYONE = Scope()
PREVIOUS_SUN = MON - dt.timedelta(days=1)


def week_totals(scope: Scope = EVERYONE) -> selectors.KpiTotals:
    return selectors.daily_kpis(scope, MON, SUN).between(MON, SUN)


def money(totals: selectors.KpiTotals, currency: str) -> selectors.CurrencyAmounts:
    return next(m for m in totals.money if m.currency == currency)


def pct(value: Decimal | None) -> Decimal:
    return round(value * 100, 1)


def test_counts_and_rates_of_the_known_week(week):
    kpis = week_totals()
    assert kpis.invoices_captured == 8  # I1 I2 I3 (Mon 23:30) I4 I8 I5 I6 I7
    assert kpis.invoices_matched == 6  # not I4 (in exception) nor I7 (rejected)
    assert pct(kpis.match_rate) == Decimal("75.0")
    assert kpis.invoices_without_exception == 4  # I1 I3 I6 I8
    assert pct(kpis.vendor_accuracy) == Decimal("50.0")
    assert (kpis.first_match_attempts, kpis.first_pass_matches) == (8, 4)
    assert pct(kpis.first_pass_rate) == Decimal("50.0")
    assert (kpis.invoices_approved, kpis.touchless_approvals) == (6, 4)
    assert pct(kpis.touchless_rate) == Decimal("66.7")
    assert (kpis.invoices_paid, kpis.paid_on_time, kpis.paid_late) == (3, 2, 1)  # I3 late
    assert pct(kpis.on_time_rate) == Decimal("66.7")
    assert (kpis.exceptions_opened, kpis.exceptions_resolved) == (4, 3)


def test_money_of_the_known_week(week):
    kpis = week_totals()
    eur, usd = money(kpis, "EUR"), money(kpis, "USD")
    # I1 taken 24.20; I2 12.10 missed (paid after 5 Mar); I5 4.84 lapsed unpaid on 6 Mar.
    assert eur.discount_available == Decimal("41.14")
    assert eur.discount_taken == Decimal("24.20")
    assert eur.discount_missed == Decimal("16.94")
    assert pct(eur.discount_capture) == Decimal("58.8")
    # 1210 + 605 + 500 + 100 + 242 − 50 (credit note); the rejected duplicate is no spend.
    assert eur.spend_total == Decimal("2607.00")
    assert eur.spend_on_po == Decimal("2507.00")
    assert eur.spend_off_po == Decimal("100.00")
    assert pct(eur.po_compliance) == Decimal("96.2")
    # USD discount window (20 Mar) lies outside the week.
    assert (usd.spend_total, usd.spend_on_po, usd.discount_available) == (
        Decimal("300.00"),
        Decimal("300.00"),
        Decimal("0"),
    )
    assert kpis.po_compliance is None  # two currencies: no single rate


def test_medians_come_exactly_from_the_facts(week):
    periods = {"week": (MON, SUN)}
    histograms = selectors.duration_stats(EVERYONE, periods, [m.value for m in selectors.Measure])
    # Capture → approved: I1 0, I3 1, I2 2, I6 0, I5 2, I8 3 days → 0 0 1 2 2 3.
    assert histograms[("week", "approve_days")].median == Decimal("1.5")
    # Capture → paid: I1 3, I2 4, I3 4 days.
    assert histograms[("week", "pay_days")].median == Decimal("4")
    # Open → resolved: I2 51 h (buyer), I5 47 h (requester), I7 2 h (AP).
    assert histograms[("week", "resolve_hours_buyer")].median == Decimal("51")
    assert histograms[("week", "resolve_hours_requester")].median == Decimal("47")
    assert histograms[("week", "resolve_hours_ap")].median == Decimal("2")


def test_open_exceptions_and_their_age_at_the_end_of_each_week(week):
    snapshots = selectors.open_snapshots(EVERYONE, [SUN, PREVIOUS_SUN])
    # Sunday 8 Mar: I4 no_po opened Tue (5 days), I9 over-billed opened 20 Feb (17 days).
    assert snapshots[SUN].counts == {
        ("ap", "no_po", "d03_07"): 1,
        ("buyer", "qty_over_billed", "d15_30"): 1,
    }
    assert snapshots[SUN].amounts == {"EUR": Decimal("180.00")}
    # Sunday 1 Mar: only I9, 10 days old.
    assert snapshots[PREVIOUS_SUN].counts == {("buyer", "qty_over_billed", "d08_14"): 1}
    # Wednesday evening: I2 resolved that afternoon, I5 opened that morning.
    wednesday = selectors.open_snapshots(EVERYONE, [MON + dt.timedelta(days=2)])
    assert wednesday[MON + dt.timedelta(days=2)].by(1) == {
        "no_po": 1,
        "missing_receipt": 1,
        "qty_over_billed": 1,
    }


def test_exceptions_by_root_cause_and_owner(week):
    slices = selectors.exception_slices(EVERYONE, MON, SUN)
    by_cause = {(s.root_cause, s.type, s.owner): (s.opened, s.resolved) for s in slices}
    assert by_cause == {
        ("stale_po_price", "price_variance", "buyer"): (1, 1),
        ("no_po", "no_po", "ap"): (1, 0),  # still open: the suggested root cause
        ("missing_receipt", "missing_receipt", "requester"): (1, 1),
        ("duplicate_submission", "duplicate", "ap"): (1, 1),
    }
    hours = {s.owner: s.resolve_hours_sum for s in slices if s.resolved}
    assert hours == {"buyer": 51, "requester": 47, "ap": 2}


def test_buyer_po_quality_per_buyer(week):
    rows = {row["name"]: row for row in selectors.buyer_quality(EVERYONE, MON, SUN)}
    # Bob's PO-1: I1 pass, I2 fail, I5 fail, I7 fail, I8 pass. Bea's PO-2: I3 and I6 pass.
    assert (rows["Bob"]["first_pass"], rows["Bob"]["attempts"]) == (2, 5)
    assert pct(rows["Bob"]["quality"]) == Decimal("40.0")
    assert pct(rows["Bea"]["quality"]) == Decimal("100.0")
    assert rows["Bob"]["disputes"] == 1  # I2's price variance; I5's receipt is the requester's


def test_filters_pick_their_grain_and_agree_with_the_detail(week):
    scopes = {
        "vendor": Scope(vendor_id=week["vendor_a"].pk),
        "cost_center": Scope(cost_center_ids=(week["marketing"].pk,)),
        "buyer": Scope(buyer_id=week["bob"].pk),
        "vendor+buyer": Scope(vendor_id=week["vendor_a"].pk, buyer_id=week["bob"].pk),
    }
    assert scopes["cost_center"].grain() == "cost_center"
    assert scopes["buyer"].grain() == "buyer"
    assert scopes["vendor"].grain() == scopes["vendor+buyer"].grain() == "detail"
    # Vendor A: I1 I2 I8 I5 I7 captured; clean I1 and I8.
    vendor_a = week_totals(scopes["vendor"])
    assert (vendor_a.invoices_captured, vendor_a.invoices_without_exception) == (5, 2)
    # Marketing (PO-2): I3, I6 captured in the week; I4 has no PO and so no cost center.
    marketing = week_totals(scopes["cost_center"])
    assert (marketing.invoices_captured, marketing.first_pass_matches) == (2, 2)
    bob = week_totals(scopes["buyer"])
    assert (bob.first_match_attempts, bob.first_pass_matches) == (5, 2)
    assert week_totals(scopes["vendor+buyer"]) == bob
    # Every grain sums to the same company totals.
    for grain in ("company", "cost_center", "buyer", "detail"):
        captured = sum(
            DailyKpiFact.objects.filter(grain=grain, day__range=(MON, SUN)).values_list(
                "invoices_captured", flat=True
            )
        )
        assert captured == 8, grain


def fact_rows() -> dict[str, list[tuple]]:
    tables = (DailyKpiFact, DailyExceptionFact, OpenExceptionFact, DurationFact, InvoiceKpi)
    rows = {}
    for model in tables:
        fields = [
            f.attname
            for f in model._meta.fields
            if f.name not in ("id", "updated_at", "refreshed_at")
        ]
        rows[model.__name__] = sorted(
            model.objects.values_list(*fields), key=lambda row: tuple(str(v) for v in row)
        )
    return rows


def test_rollup_twice_changes_nothing(week):
    before = fact_rows()
    assert before["DailyKpiFact"]
    rebuild_facts(dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    rebuild_facts(MON, SUN)
    assert fact_rows() == before


def test_rollup_does_not_rewrite_unchanged_rows(week):
    stamps = dict(DailyKpiFact.objects.values_list("id", "updated_at"))
    rebuild_facts(MON, SUN)
    assert dict(DailyKpiFact.objects.values_list("id", "updated_at")) == stamps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_rollups_at_once_leave_one_copy(week):
    expected = fact_rows()
    assert expected["DailyKpiFact"] and expected["InvoiceKpi"]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def rebuild() -> None:
        try:
            barrier.wait()
            rebuild_facts(dt.date(2026, 2, 1), dt.date(2026, 3, 31))
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rebuild) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert fact_rows() == expected


def test_a_late_change_moves_exactly_the_days_it_touches(week, people):
    """I5 (approved Fri) is sent back to matching a week later: Friday loses its approval."""
    i5 = week["invoices"]["i5"]
    later = FRI + dt.timedelta(days=7)
    i5.status = "exception"
    i5.approved_at = None
    i5.save(update_fields=["status", "approved_at"])
    make_exception(i5, "qty_over_billed", opened=at(later, 9), amount="24.20")
    audit_record(
        obj=i5, action=AuditAction.STATUS, by=None, from_status="approved", to_status="exception"
    )
    # The trail entry is stamped now; the rollup of today's window finds it without a scan.
    result = rollup_window(timezone.localdate(), timezone.localdate(), scan_invoices=False)
    assert result.changed == 1
    friday = selectors.daily_kpis(EVERYONE, FRI, FRI).between(FRI, FRI)
    assert friday.invoices_approved == 1  # only I8 now
    assert week_totals().invoices_matched == 5
    assert week_totals().invoices_without_exception == 4  # I5 had one already
    opened = selectors.daily_kpis(EVERYONE, later, later).between(later, later)
    assert opened.exceptions_opened == 1


def test_a_discount_window_closing_counts_without_any_event(week, people):
    """A window that closes unpaid is counted the day after, by time passing alone."""
    from tests.metrics.builders import make_invoice

    today = timezone.localdate()
    invoice = make_invoice(
        week["vendor_a"], po=week["po1"], captured=at(today - dt.timedelta(days=12)),
        total="100.00", status="approved", discount="2.00",
        discount_date=today - dt.timedelta(days=1),
    )  # fmt: skip
    rebuild_facts(today - dt.timedelta(days=12), today - dt.timedelta(days=2))
    InvoiceKpi.objects.filter(invoice=invoice).update(discount_day=None, discount_available=0)
    rollup_window(today, today, scan_invoices=False)
    row = InvoiceKpi.objects.get(invoice=invoice)
    assert (row.discount_day, row.discount_available) == (
        today - dt.timedelta(days=1),
        Decimal("2.00"),
    )
    yesterday = today - dt.timedelta(days=1)
    eur = money(
        selectors.daily_kpis(EVERYONE, yesterday, yesterday).between(yesterday, today), "EUR"
    )
    assert eur.discount_missed == Decimal("2.00")


def test_the_monday_23_30_capture_counts_on_monday_local_time(week):
    assert InvoiceKpi.objects.get(invoice=week["invoices"]["i3"]).captured_day == MON
    assert InvoiceKpi.objects.get(invoice=week["invoices"]["i3"]).first_match_day == TUE


def test_rollup_refuses_a_reversed_range(db):
    with pytest.raises(ValueError):
        rollup_window(THU, MON)
