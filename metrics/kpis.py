"""The KPI catalogue: one definition per KPI (DESIGN.md, "KPIs"), shown next to every number.

Buyers, AP and finance read the same text from here, so a number can never mean two things.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Kpi:
    """A KPI's name, its definition, its unit and which way is good."""

    key: str
    label: str
    definition: str
    unit: str  # "rate" (0..1), "days", "hours", "count" or "money"
    higher_is_better: bool
    # The unit a target is entered in: a percentage for rates, else the KPI's own unit.
    target_unit: str


FIRST_PASS = Kpi(
    "first_pass",
    "First-pass match rate",
    "Invoices approved on their first match attempt ÷ invoices first matched in the period",
    "rate",
    True,
    "%",
)
MATCH_RATE = Kpi(
    "match_rate",
    "Match rate",
    "Invoices matched (eventually) ÷ invoices captured in the period",
    "rate",
    True,
    "%",
)
TOUCHLESS = Kpi(
    "touchless",
    "Touchless rate",
    "Invoices captured → approved with no human action ÷ invoices approved in the period",
    "rate",
    True,
    "%",
)
ON_TIME = Kpi(
    "on_time",
    "On-time payment",
    "Invoices paid on or before their due date ÷ invoices paid in the period",
    "rate",
    True,
    "%",
)
DISCOUNT_CAPTURE = Kpi(
    "discount_capture",
    "Discount capture",
    "Discount amount taken ÷ discount amount available (window closed or paid in the period)",
    "rate",
    True,
    "%",
)
CYCLE_TIME = Kpi(
    "cycle_time",
    "Median cycle time",
    "Median days capture → approved (invoices approved in the period), and capture → paid "
    "(invoices paid in the period)",
    "days",
    False,
    "days",
)
OPEN_EXCEPTIONS = Kpi(
    "open_exceptions",
    "Open exceptions",
    "Exceptions not yet resolved at the end of the period (open or waiting for the vendor)",
    "count",
    False,
    "exceptions",
)
RESOLUTION_TIME = Kpi(
    "resolution_time",
    "Exception resolution time",
    "Median hours open → resolved, by owner (buyer vs AP), of exceptions resolved in the period",
    "hours",
    False,
    "hours",
)
PO_COMPLIANCE = Kpi(
    "po_compliance",
    "PO compliance",
    "Invoice spend on a PO ÷ all invoice spend (invoices captured in the period, credit "
    "notes subtracted, rejected invoices left out)",
    "rate",
    True,
    "%",
)
VENDOR_ACCURACY = Kpi(
    "vendor_accuracy",
    "Vendor accuracy",
    "A vendor's invoices with no exception ÷ its invoices (captured in the period)",
    "rate",
    True,
    "%",
)
BUYER_PO_QUALITY = Kpi(
    "buyer_po_quality",
    "Buyer PO quality",
    "Invoices against a buyer's POs that first-pass match ÷ those invoices (first matched "
    "in the period)",
    "rate",
    True,
    "%",
)

ALL = (
    FIRST_PASS,
    MATCH_RATE,
    TOUCHLESS,
    ON_TIME,
    DISCOUNT_CAPTURE,
    CYCLE_TIME,
    RESOLUTION_TIME,
    PO_COMPLIANCE,
    VENDOR_ACCURACY,
    BUYER_PO_QUALITY,
    OPEN_EXCEPTIONS,
)
BY_KEY = {kpi.key: kpi for kpi in ALL}
# The tiles at the top of the dashboard, in reading order; each may carry a target.
HEADLINE = (
    FIRST_PASS,
    TOUCHLESS,
    ON_TIME,
    DISCOUNT_CAPTURE,
    CYCLE_TIME,
    OPEN_EXCEPTIONS,
    PO_COMPLIANCE,
)
TARGET_CHOICES = [(kpi.key, kpi.label) for kpi in HEADLINE]
