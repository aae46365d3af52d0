"""The known week: nine invoices whose every KPI is worked out by hand in the tests.

Week of Monday 2 March 2026 (Europe/Amsterdam). Vendor A (Kantoorhuis) bills PO-1 of buyer
Bob (cost center CC-100, Operations); vendor B (Bürotechnik) bills PO-2 of buyer Bea
(CC-200, Marketing) and once without a PO.

    I1  A  Mon 10:00 captured, first pass, approved Mon, paid Thu (due 1 Apr), 1,210.00,
           discount 24.20 by 12 Mar — taken
    I2  A  Mon 11:00 captured, price variance (buyer) Mon 11:05 → resolved Wed 14:05 (51 h,
           stale PO price), approved Wed, paid Fri (due 1 Apr), 605.00, discount 12.10 by
           5 Mar — missed (paid after the window)
    I3  B  Mon 23:30 captured, first pass Tue 00:10, approved Tue, paid Fri, due Thu — late,
           500.00
    I4  B  Tue 09:00 captured without PO, no_po (AP) Tue 09:30, still open, 100.00
    I8  A  Tue 15:00 captured in USD, first pass only Fri 15:00, approved Fri, 300.00 USD
    I5  A  Wed 10:00 captured, missing receipt (requester) Wed 10:30 → resolved Fri 09:30
           (47 h), approved Fri, unpaid, 242.00, discount 4.84 by 6 Mar — missed (lapsed)
    I6  B  Thu 10:00 credit note 50.00 on PO-2, first pass, approved Thu
    I7  A  Thu 11:00 captured, duplicate (AP) Thu 11:05 → resolved 13:05 (2 h), rejected,
           1,210.00
    I9  B  Fri 20 Feb captured, quantity over billed (buyer) 20 Feb 10:05, still open
"""

import datetime as dt

import pytest

from metrics.rollup import rebuild_facts
from tests import factories
from tests.metrics.builders import (
    at,
    make_cost_center,
    make_exception,
    make_invoice,
    make_payment,
    make_po,
)

MON = dt.date(2026, 3, 2)
TUE, WED, THU, FRI, SUN = (MON + dt.timedelta(days=n) for n in (1, 2, 3, 4, 6))


@pytest.fixture
def week(people, setup_org):
    """The known week, rolled up."""
    bob = people["buyer"]
    bea = factories.make_user("bea", "buyer")
    operations = setup_org["cost_center"]
    marketing = make_cost_center("CC-200", "Campaigns", "Marketing")
    vendor_a = factories.make_vendor("Kantoorhuis Van Dijk B.V.", terms=factories.two_ten_net30())
    vendor_b = factories.make_vendor("Bürotechnik Schneider GmbH")
    po1 = make_po(vendor_a, bob, operations)
    po2 = make_po(vendor_b, bea, marketing)
    clerk = people["ap_clerk"]

    i1 = make_invoice(
        vendor_a, po=po1, captured=at(MON, 10), total="1210.00", status="paid",
        first_matched=at(MON, 10, 5), first_pass=True, approved=at(MON, 10, 5), touchless=True,
        paid=at(THU, 12), due=dt.date(2026, 4, 1), discount_date=dt.date(2026, 3, 12),
        discount="24.20", number="KVD-101",
    )  # fmt: skip
    make_payment(i1, preparer=clerk, discount_taken="24.20")
    i2 = make_invoice(
        vendor_a, po=po1, captured=at(MON, 11), total="605.00", status="paid",
        first_matched=at(MON, 11, 5), first_pass=False, approved=at(WED, 14, 5),
        paid=at(FRI, 12), due=dt.date(2026, 4, 1), discount_date=THU, discount="12.10",
        number="KVD-102",
    )  # fmt: skip
    make_exception(
        i2, "price_variance", opened=at(MON, 11, 5), resolved=at(WED, 14, 5),
        root_cause="stale_po_price", amount="14.50", detail="Invoice price 24.95 vs PO 23.50",
    )  # fmt: skip
    make_payment(i2, preparer=clerk)
    i3 = make_invoice(
        vendor_b, po=po2, captured=at(MON, 23, 30), total="500.00", status="paid",
        first_matched=at(TUE, 0, 10), first_pass=True, approved=at(TUE, 0, 10), touchless=True,
        paid=at(FRI, 12), due=THU, number="BTS-7",
    )  # fmt: skip
    make_payment(i3, preparer=clerk)
    i4 = make_invoice(
        vendor_b, captured=at(TUE, 9), total="100.00", status="exception",
        first_matched=at(TUE, 9, 30), first_pass=False, number="BTS-8",
    )  # fmt: skip
    make_exception(i4, "no_po", opened=at(TUE, 9, 30), amount="100.00")
    i8 = make_invoice(
        vendor_a, po=po1, captured=at(TUE, 15), total="300.00", currency="USD",
        status="approved", first_matched=at(FRI, 15), first_pass=True, approved=at(FRI, 15),
        touchless=True, discount_date=dt.date(2026, 3, 20), discount="6.00", number="KVD-US-1",
    )  # fmt: skip
    i5 = make_invoice(
        vendor_a, po=po1, captured=at(WED, 10), total="242.00", status="approved",
        first_matched=at(WED, 10, 30), first_pass=False, approved=at(FRI, 9, 30),
        discount_date=FRI, discount="4.84", number="KVD-103",
    )  # fmt: skip
    make_exception(
        i5, "missing_receipt", opened=at(WED, 10, 30), resolved=at(FRI, 9, 30),
        root_cause="missing_receipt", amount="242.00",
    )  # fmt: skip
    i6 = make_invoice(
        vendor_b, po=po2, captured=at(THU, 10), total="50.00", status="approved",
        first_matched=at(THU, 10, 5), first_pass=True, approved=at(THU, 10, 5), touchless=True,
        credit_note=True, number="BTS-CN-1",
    )  # fmt: skip
    i7 = make_invoice(
        vendor_a, po=po1, captured=at(THU, 11), total="1210.00", status="rejected",
        first_matched=at(THU, 11, 5), first_pass=False, number="KVD-101-DUP",
    )  # fmt: skip
    make_exception(
        i7, "duplicate", opened=at(THU, 11, 5), resolved=at(THU, 13, 5),
        root_cause="duplicate_submission", amount="1210.00",
    )  # fmt: skip
    feb20 = dt.date(2026, 2, 20)
    i9 = make_invoice(
        vendor_b, po=po2, captured=at(feb20, 10), total="800.00", status="exception",
        first_matched=at(feb20, 10, 5), first_pass=False, number="BTS-1",
    )  # fmt: skip
    make_exception(i9, "qty_over_billed", opened=at(feb20, 10, 5), amount="80.00")

    rebuild_facts(dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    return {
        "vendor_a": vendor_a,
        "vendor_b": vendor_b,
        "bob": bob,
        "bea": bea,
        "operations": operations,
        "marketing": marketing,
        "po1": po1,
        "po2": po2,
        "invoices": {
            "i1": i1, "i2": i2, "i3": i3, "i4": i4, "i5": i5, "i6": i6, "i7": i7, "i8": i8,
            "i9": i9,
        },
    }  # fmt: skip
