"""Implausible invoice dates (9999-12-31, a century back) are refused on every capture path."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from p2p.exceptions import DomainError
from payables.einvoice import parse_document
from payables.models.invoices import Invoice
from payables.services.importing import import_csv
from payables.services.invoices import InvoiceLineInput, invoice_capture
from tests import factories
from tests.flow import issued_po
from tests.payables.test_einvoice import EINVOICE_DATA
from tests.payables.test_views import CREATE_URL, entry_post

pytestmark = pytest.mark.django_db

AHEAD = "The invoice date 9999-12-31 is more than a year ahead; check the year."


@pytest.fixture(autouse=True)
def default_window(settings):
    settings.INVOICE_DATE_YEARS_BACK, settings.INVOICE_DATE_YEARS_AHEAD = 10, 1


def test_form_refuses_9999_12_31_with_a_message(client, people, setup_org):
    po = issued_po(people, setup_org, lines=(("A4 copy paper", "40", "23.50"),))
    client.force_login(people["ap_clerk"])
    data = entry_post(
        po, "INV-9999", {po.lines.get(): ("40", "23.50")}, tax="197.40", invoice_date="9999-12-31"
    )
    response = client.post(CREATE_URL, data)
    assert response.status_code == 200
    assert AHEAD in response.content.decode()
    assert not Invoice.objects.exists()


def test_api_refuses_9999_12_31_with_400(people):
    vendor = factories.make_vendor()
    client = APIClient()
    client.force_authenticate(people["ap_clerk"])
    response = client.post(
        "/api/invoices/",
        {
            "vendor": vendor.pk,
            "number": "INV-9999",
            "invoice_date": "9999-12-31",
            "currency": "EUR",
            "lines": [{"description": "Paper", "quantity": "40", "unit_price": "23.50"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"invoice_date": [AHEAD]}
    assert not Invoice.objects.exists()


def test_service_refuses_dates_outside_the_window_and_accepts_the_edges(people, settings):
    vendor = factories.make_vendor()
    today = timezone.localdate()
    line = InvoiceLineInput(description="Paper", quantity="40", unit_price="23.50")

    def capture(number: str, invoice_date: dt.date) -> Invoice:
        return invoice_capture(
            by=people["ap_clerk"],
            vendor=vendor,
            number=number,
            invoice_date=invoice_date,
            currency="EUR",
            lines=[line],
        )

    long_ago = today.replace(year=today.year - 11)
    with pytest.raises(DomainError, match=f"{long_ago.isoformat()} is more than 10 years ago"):
        capture("OLD-1", long_ago)
    with pytest.raises(DomainError, match="is more than a year ahead"):
        capture("NEXT-1", today + dt.timedelta(days=400))
    assert capture("EDGE-1", today.replace(year=today.year + 1)).total_amount == Decimal("940.00")
    settings.INVOICE_DATE_YEARS_AHEAD = 2
    assert capture("NEXT-2", today + dt.timedelta(days=400)).invoice_date > today


def test_ubl_and_cii_issue_dates_of_9999_are_refused_when_read():
    ubl = (EINVOICE_DATA / "peppol/examples/base-example.xml").read_bytes()
    ubl = ubl.replace(b"<cbc:IssueDate>2017-11-13", b"<cbc:IssueDate>9999-12-31", 1)
    with pytest.raises(DomainError, match="Issue date 9999-12-31 is more than a year ahead"):
        parse_document(ubl, "base-example.xml")
    cii = (EINVOICE_DATA / "en16931/cii/examples/CII_example5.xml").read_bytes()
    start = cii.index(b'format="102">') + len(b'format="102">')
    cii = cii[:start] + b"99991231" + cii[start + 8 :]
    with pytest.raises(DomainError, match="9999-12-31 is more than a year ahead"):
        parse_document(cii, "CII_example5.xml")


def test_csv_row_with_9999_is_refused_naming_the_line(people):
    vendor = factories.make_vendor("Office Depot B.V.")
    data = (
        "vendor_name,invoice_number,invoice_date,currency,line_description,quantity,unit_price\n"
        f"{vendor.name},OD-1,2026-11-02,EUR,Paper,40,23.50\n"
        f"{vendor.name},OD-2,9999-12-31,EUR,Paper,40,23.50\n"
    ).encode()
    report = import_csv(data=data, filename="dates.csv", by=None)
    assert (
        report.results[1].error
        == "line 3: invoice_date 9999-12-31 is more than a year ahead; check the year."
    )
    assert not Invoice.objects.exists()
