"""CSV import of vendors: every bad row reported by line, all-or-nothing unless asked,
progress that follows the worker, and a file of a few hundred real-looking rows."""

import io
import itertools

import pytest
from django.urls import reverse
from schwifty import IBAN
from stdnum.nl import vat as nl_vat

from p2p.models import AuditAction, AuditEvent
from tests import factories
from vendors import importing, services
from vendors.models import BankAccount, Vendor, VendorImport

pytestmark = pytest.mark.django_db

HEADER = "name;tax_id;country;currency;payment_terms;email;iban;bic;account_holder;remit_to"
ROWS = 300
FIRST = ("Van Dijk", "De Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "De Boer",
         "Mulder", "De Groot", "Bos", "Vos", "Peters", "Hendriks", "Dekker", "Brouwer")  # fmt: skip
TRADE = ("Kantoorartikelen", "Schoonmaak", "Installatietechniek", "Drukwerk", "Transport",
         "Catering", "ICT Diensten", "Beveiliging", "Bouw", "Adviesgroep")  # fmt: skip
CITY = ("Utrecht", "Amersfoort", "Haarlem", "Eindhoven", "Zwolle", "Leiden", "Delft", "Breda")
# Line number in the file (the header is line 1) → the mistake planted there.
BROKEN = {
    12: ("tax_id", lambda row: {**row, "tax_id": row["tax_id"][:-4] + "0B01"}),
    57: ("payment_terms", lambda row: {**row, "payment_terms": "NET31"}),
    101: ("country", lambda row: {**row, "country": "Holland"}),
    150: ("iban", lambda row: {**row, "iban": "NL02RABO0123456789"}),
    222: ("name", lambda row: {**row, "name": ""}),
}
DUPLICATE_LINE, DUPLICATED_LINE = 260, 30


def valid_nl_vat(seed: int) -> str:
    """A real-looking Dutch VAT number whose check digit is right."""
    for last in range(10):
        number = f"NL{8_100_000_00 + seed * 37:09d}"[:-1] + f"{last}B01"
        if nl_vat.is_valid(number):
            return number
    return valid_nl_vat(seed + 100_000)


def valid_nl_iban(seed: int) -> str:
    for account in itertools.count(1_000_000_000 + seed * 7919):
        try:
            return IBAN.generate("NL", bank_code="INGB", account_code=f"{account:010d}").compact
        except ValueError:
            continue


def vendor_rows(count: int = ROWS) -> list[dict]:
    rows = []
    for n in range(count):
        name = f"{FIRST[n % len(FIRST)]} {TRADE[n // len(FIRST) % len(TRADE)]} {CITY[n % len(CITY)]} {n + 1:03d} B.V."
        rows.append(
            {
                "name": name,
                "tax_id": valid_nl_vat(n + 1),
                "country": "NL",
                "currency": "EUR",
                "payment_terms": ("NET30", "2/10N30")[n % 2],
                "email": f"facturen{n + 1}@leverancier.example",
                "iban": valid_nl_iban(n + 1) if n % 3 else "",
                "bic": "",
                "account_holder": "",
                "remit_to": CITY[n % len(CITY)],
            }
        )
    return rows


def to_csv(rows: list[dict]) -> str:
    lines = [HEADER]
    for row in rows:
        lines.append(";".join(row[column] for column in HEADER.split(";")))
    return "\n".join(lines) + "\n"


def file_with_mistakes() -> str:
    rows = vendor_rows()
    for line, (_column, breaks) in BROKEN.items():
        rows[line - 2] = breaks(rows[line - 2])
    rows[DUPLICATE_LINE - 2]["tax_id"] = rows[DUPLICATED_LINE - 2]["tax_id"]
    return to_csv(rows)


@pytest.fixture(autouse=True)
def terms(db):
    factories.net30()
    factories.two_ten_net30()


def upload(client, content: str, django_capture_on_commit_callbacks, **extra):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            reverse("vendors:import_form"),
            {"file": io.BytesIO(content.encode("utf-8")), **extra},
            format="multipart",
        )


def test_a_file_with_bad_rows_imports_nothing_and_reports_every_line(
    client, people, django_capture_on_commit_callbacks
):
    client.force_login(people["buyer"])
    csv_file = io.BytesIO(file_with_mistakes().encode("utf-8"))
    csv_file.name = "leveranciers-2026.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("vendors:import_form"), {"file": csv_file})
    job = VendorImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("vendors:import_detail", args=[job.pk])
    assert job.status == VendorImport.Status.REJECTED
    assert job.total_rows == job.processed_rows == ROWS
    reported = [(e["line"], e["column"]) for e in job.errors]
    expected = sorted(
        [(line, column) for line, (column, _) in BROKEN.items()] + [(DUPLICATE_LINE, "tax_id")]
    )
    assert reported == expected
    messages = {e["line"]: e["message"] for e in job.errors}
    assert "fails its check digit" in messages[12]
    assert messages[57] == "Unknown payment terms 'NET31' (known: 2/10N30, NET30)."
    assert "'Holland' is not a country code" in messages[101]
    assert "fails its check digits" in messages[150]
    assert messages[222] == "The vendor name is missing."
    assert messages[DUPLICATE_LINE] == f"The same tax id as line {DUPLICATED_LINE}."
    assert not Vendor.objects.exists() and not BankAccount.objects.exists()

    page = client.get(response["Location"]).content.decode()
    assert "Nothing was imported" in page and "Import the 294 valid rows" in page
    assert '<td class="shrink num">150</td>' in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("vendors:import_valid_rows", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == VendorImport.Status.IMPORTED and job.imported_count == 294
    assert Vendor.objects.count() == 294
    assert set(Vendor.objects.values_list("status", flat=True)) == {"onboarding"}
    assert not Vendor.objects.filter(name__contains=" 011 B.V.").exists()  # line 12 was skipped
    pending = BankAccount.objects.filter(status=BankAccount.Status.PENDING)
    assert pending.count() == Vendor.objects.filter(bank_accounts__isnull=False).count() > 150
    assert set(pending.values_list("requested_by", flat=True)) == {people["buyer"].pk}
    assert (
        AuditEvent.objects.filter(object_type="vendors.vendor", action=AuditAction.CREATED).count()
        == 294
    )


def test_only_valid_rows_when_ticked_up_front(client, people, django_capture_on_commit_callbacks):
    client.force_login(people["ap_manager"])
    upload(client, file_with_mistakes(), django_capture_on_commit_callbacks, valid_rows_only="on")
    job = VendorImport.objects.get()
    assert job.status == VendorImport.Status.IMPORTED
    assert job.imported_count == Vendor.objects.count() == ROWS - 6
    assert len(job.errors) == 6


def test_a_clean_file_imports_everything(people):
    content = to_csv(vendor_rows(40))
    with_progress = []
    checked = importing.check_rows(
        content, on_progress=lambda done, total: with_progress.append((done, total))
    )
    assert with_progress == [(25, 40), (40, 40)]
    assert not checked.errors and len(checked.rows) == 40
    job = services.vendor_import_start(by=people["buyer"], file_name="clean.csv", content=content)
    services.vendor_import_run(import_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.imported_count, job.errors) == ("imported", 40, [])


def test_existing_vendors_are_errors_and_lookalikes_warnings(people):
    rows = vendor_rows(3)
    existing = services.vendor_create(
        by=people["buyer"],
        name="Someone Else B.V.",
        payment_terms=factories.net30(),
        tax_id=rows[0]["tax_id"],
    )
    lookalike = factories.make_vendor(rows[1]["name"].replace(" B.V.", " BV"))
    checked = importing.check_rows(to_csv(rows))
    assert [(e.line, e.column) for e in checked.errors] == [(2, "tax_id")]
    assert [(w.line, w.message) for w in checked.warnings] == [
        (3, f"Looks like the existing vendor {lookalike.name}.")
    ]
    assert existing.pk and len(checked.rows) == 2


def test_progress_endpoint_follows_the_worker(client, people):
    job = VendorImport.objects.create(
        file_name="big.csv", content=HEADER, created_by=people["buyer"],
        status=VendorImport.Status.CHECKING, total_rows=400, processed_rows=150,
    )  # fmt: skip
    client.force_login(people["buyer"])
    detail = client.get(reverse("vendors:import_detail", args=[job.pk])).content.decode()
    status_url = reverse("vendors:import_status", args=[job.pk])
    assert f'hx-get="{status_url}"' in detail and "Checking rows: 150 of 400" in detail
    running = client.get(status_url, HTTP_HX_REQUEST="true")
    assert 'style="width: 37%"' in running.content.decode()
    assert "HX-Refresh" not in running
    VendorImport.objects.filter(pk=job.pk).update(
        status=VendorImport.Status.IMPORTED, processed_rows=400
    )
    finished = client.get(status_url, HTTP_HX_REQUEST="true")
    assert finished["HX-Refresh"] == "true"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("naam,land\nX,NL\n", "lacks the column(s) name, country, currency, payment_terms"),
        ("name,country,currency,payment_terms,fax\n", "does not know: fax"),
        ("", "The file is empty."),
    ],
)
def test_unusable_files_are_refused_at_upload(client, people, content, message):
    client.force_login(people["buyer"])
    response = client.post(reverse("vendors:import_form"), {"file": io.BytesIO(content.encode())})
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not VendorImport.objects.exists()


def test_excel_files_in_windows_encoding_are_read(
    client, people, django_capture_on_commit_callbacks
):
    content = "name,country,currency,payment_terms\nCafé Señor Müller GmbH,DE,EUR,NET30\n"
    client.force_login(people["buyer"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("vendors:import_form"), {"file": io.BytesIO(content.encode("cp1252"))})
    assert Vendor.objects.get().name == "Café Señor Müller GmbH"


@pytest.mark.parametrize("role", ["ap_clerk", "requester"])
def test_import_is_for_vendor_editors(client, people, role):
    client.force_login(people[role])
    assert client.get(reverse("vendors:import_form")).status_code == 403


def test_a_vendor_entered_while_the_file_was_checked_fails_the_import_cleanly(people, monkeypatch):
    content = to_csv(vendor_rows(5))
    checked = importing.check_rows(content)
    # Someone registers the third vendor by hand after the check and before the write.
    services.vendor_create(
        by=people["ap_manager"],
        name="Entered By Hand B.V.",
        payment_terms=factories.net30(),
        tax_id=checked.rows[2].tax_id,
    )
    monkeypatch.setattr(importing, "check_rows", lambda *args, **kwargs: checked)
    job = services.vendor_import_start(by=people["buyer"], file_name="race.csv", content=content)
    services.vendor_import_run(import_id=job.pk)
    job.refresh_from_db()
    assert job.status == VendorImport.Status.FAILED
    assert "were created: " + checked.rows[2].tax_id in job.errors[-1]["message"]
    assert Vendor.objects.count() == 1  # only the one entered by hand


def test_a_crash_while_checking_marks_the_import_failed(people, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(importing, "check_rows", explode)
    job = services.vendor_import_start(by=people["buyer"], file_name="x.csv", content=HEADER)
    with pytest.raises(RuntimeError):
        services.vendor_import_run(import_id=job.pk)
    job.refresh_from_db()
    assert job.status == VendorImport.Status.FAILED
    assert job.errors[-1]["message"].startswith("The check stopped unexpectedly")
