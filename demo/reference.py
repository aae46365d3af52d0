"""Demo reference data: payment terms, coding, approval rules, match policy and vendors."""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group

from p2p import roles
from p2p.money import ZERO
from payables.models import MatchPolicy
from procurement.models import ApprovalRule, Category, CostCenter, GLAccount
from vendors.models import PaymentTerms

TERMS = (
    # code, name, net days, discount %, discount days, end of month
    ("NET30", "Net 30", 30, "0", 0, False),
    ("NET45", "Net 45", 45, "0", 0, False),
    ("2/10N30", "2/10 Net 30", 30, "2", 10, False),
    ("1/15N45", "1/15 Net 45", 45, "1", 15, False),
    ("NET30EOM", "Net 30 EOM", 30, "0", 0, True),
)
COST_CENTERS = (
    ("CC-100", "Operations"),
    ("CC-200", "IT"),
    ("CC-300", "Marketing"),
    ("CC-400", "Facilities"),
)
GL_ACCOUNTS = (
    ("6100", "Office supplies"),
    ("6200", "IT equipment"),
    ("6300", "Software subscriptions"),
    ("6400", "Marketing services"),
    ("6500", "Facilities maintenance"),
)


@dataclass(frozen=True)
class DemoVendor:
    """A demo supplier, what it sells and how it bills."""

    key: str
    name: str
    tax_id: str
    country: str
    terms: str
    iban: str
    bic: str
    email: str
    city: str
    invoice_prefix: str
    category: str
    cost_center: str
    gl_account: str
    # (description, unit price, unit, smallest and largest usual quantity)
    catalog: tuple[tuple[str, str, str, int, int], ...] = ()

    @property
    def tax_rate(self) -> Decimal:
        # Dutch suppliers charge 21% VAT; German and Belgian ones reverse-charge it.
        return Decimal("21") if self.country == "NL" else ZERO


# fmt: off
VENDORS = (
    DemoVendor(
        "office", "Kantoorhuis Van Dijk B.V.", "NL853296741B01", "NL", "NET30",
        "NL91ABNA0417164300", "ABNANL2A", "facturen@kantoorhuisvandijk.nl", "Utrecht",
        "KVD-2026-", Category.GOODS, "CC-100", "6100",
        (
            ("A4 copy paper 80 g, box of 5 reams", "23.50", "BOX", 10, 60),
            ("HP 305A toner cartridge, black", "89.90", "EA", 4, 20),
            ("Ballpoint pens, box of 50", "12.40", "BOX", 2, 10),
            ("Lever arch files, pack of 10", "18.75", "PK", 3, 15),
            ("Sticky notes 76×76 mm, pack of 12", "14.20", "PK", 4, 20),
        ),
    ),
    DemoVendor(
        "it", "Bürotechnik Schneider GmbH", "DE284615931", "DE", "2/10N30",
        "DE89370400440532013000", "COBADEFFXXX", "rechnung@buerotechnik-schneider.de", "Köln",
        "RE-26-", Category.IT, "CC-200", "6200",
        (
            ("Dell Latitude 5450 laptop, 16 GB", "1149.00", "EA", 2, 6),
            ('Dell P2724H 27" monitor', "239.00", "EA", 3, 12),
            ("Logitech MX Keys keyboard", "109.00", "EA", 3, 12),
            ("USB-C docking station", "189.00", "EA", 2, 8),
            ("Jabra Evolve2 55 headset", "149.00", "EA", 4, 12),
        ),
    ),
    DemoVendor(
        "software", "CloudWerk Software GmbH", "DE312845766", "DE", "NET30EOM",
        "DE44500105175407324931", "INGDDEFFXXX", "billing@cloudwerk.de", "München",
        "CW-INV-", Category.SERVICES, "CC-200", "6300",
        (
            ("Jira Cloud Standard, 50 users, monthly", "390.00", "MO", 1, 1),
            ("Adobe Creative Cloud licence, annual", "719.88", "EA", 1, 4),
            ("Password manager business licence, annual", "48.00", "EA", 20, 60),
        ),
    ),
    DemoVendor(
        "cleaning", "Schoonmaakbedrijf De Vries B.V.", "NL820147369B01", "NL", "NET45",
        "NL39RABO0300065264", "RABONL2U", "administratie@devries-schoonmaak.nl", "Amersfoort",
        "DV", Category.SERVICES, "CC-400", "6500",
        (
            ("Window cleaning, all floors", "680.00", "EA", 1, 1),
            ("Carpet deep clean", "4.80", "M2", 200, 600),
        ),
    ),
    DemoVendor(
        "agency", "Studio Lumière BV", "BE0478215938", "BE", "1/15N45",
        "BE68539007547034", "GKCCBEBB", "finance@studiolumiere.be", "Gent",
        "LUM/2026/", Category.SERVICES, "CC-300", "6400",
        (
            ("Campaign design, agency hours", "95.00", "HR", 16, 60),
            ("Copywriting, hours", "85.00", "HR", 8, 30),
            ("Social media management, monthly", "1800.00", "MO", 1, 1),
        ),
    ),
    DemoVendor(
        "print", "Drukkerij Hollandia B.V.", "NL861204530B01", "NL", "2/10N30",
        "NL20INGB0001234567", "INGBNL2A", "facturatie@drukkerijhollandia.nl", "Haarlem",
        "DH-26-", Category.MARKETING, "CC-300", "6400",
        (
            ("Trade-fair brochure A4, 16 pages", "1.85", "EA", 500, 2000),
            ("Roll-up banner 85×200 cm", "129.00", "EA", 1, 4),
            ("Business cards, box of 250", "24.50", "BOX", 2, 10),
        ),
    ),
    DemoVendor(
        "facilities", "Rheinland Facility Services GmbH", "DE276194855", "DE", "NET30",
        "DE29100100100987654321", "PBNKDEFFXXX", "buchhaltung@rheinland-fs.de", "Düsseldorf",
        "RFS-2026-", Category.FACILITIES, "CC-400", "6500",
        (
            ("LED panel 60×60, 36 W", "38.50", "EA", 10, 40),
            ("HVAC filter set, F7", "64.00", "SET", 4, 12),
        ),
    ),
    DemoVendor(
        "furniture", "Brabant Kantoormeubelen B.V.", "NL859371268B01", "NL", "NET30EOM",
        "NL02ABNA0123456789", "ABNANL2A", "verkoop@brabantmeubel.nl", "Eindhoven",
        "BKM-", Category.GOODS, "CC-400", "6500",
    ),
)
# fmt: on

VENDOR_BY_KEY = {v.key: v for v in VENDORS}
# The first vendor doubles as the marker: if it exists, the documents were loaded before.
MARKER_TAX_ID = VENDORS[0].tax_id


@dataclass
class Reference:
    terms: dict[str, PaymentTerms]
    cost_centers: dict[str, CostCenter]
    gl_accounts: dict[str, GLAccount]


def ensure_reference_data() -> Reference:
    """Payment terms, coding, approval rules and the organisation's match policy."""
    terms = {
        code: PaymentTerms.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "net_days": net,
                "discount_percent": Decimal(pct),
                "discount_days": days,
                "end_of_month": eom,
            },
        )[0]
        for code, name, net, pct, days, eom in TERMS
    }
    cost_centers = {
        code: CostCenter.objects.get_or_create(
            code=code, defaults={"name": name, "department": name}
        )[0]
        for code, name in COST_CENTERS
    }
    gl_accounts = {
        code: GLAccount.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in GL_ACCOUNTS
    }
    ApprovalRule.objects.get_or_create(
        name="Department approval",
        step=1,
        defaults={"approver_group": Group.objects.get_or_create(name=roles.APPROVER)[0]},
    )
    ApprovalRule.objects.get_or_create(
        name="Finance above 10,000",
        step=2,
        defaults={
            "min_amount": Decimal("10000"),
            "approver_group": Group.objects.get_or_create(name=roles.FINANCE_LEADER)[0],
        },
    )
    MatchPolicy.objects.get_or_create(
        name="Organisation default",
        vendor=None,
        defaults={
            "price_tolerance_pct": Decimal("2"),
            "price_tolerance_abs": Decimal("5.00"),
            "qty_tolerance_pct": Decimal("0"),
            "total_tolerance_abs": Decimal("0.05"),
        },
    )
    return Reference(terms, cost_centers, gl_accounts)
