"""import_invoices FILE...: capture e-invoices (UBL, CII, Factur-X PDF) and CSV uploads."""

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from p2p import roles
from p2p.roles import Perm
from payables.einvoice.common import MAX_DOCUMENT_BYTES
from payables.einvoice.csv_import import COMMA, MAX_CSV_BYTES, POINT
from payables.services.importing import ImportReport, ImportResult, import_files

IMPORTABLE_SUFFIXES = (".xml", ".pdf", ".csv")


class Command(BaseCommand):
    help = (
        "Import invoices from UBL / Peppol BIS 3 or CII XML, Factur-X / ZUGFeRD PDFs and CSV "
        "files (a directory imports every .xml, .pdf and .csv in it). Each file is its own "
        "transaction; a CSV is all-or-nothing unless --valid-only. A byte-identical copy of an "
        "earlier file is refused. With --dry-run nothing is written: e-invoices are read and "
        "checked, CSV rows are validated against vendors and purchase orders. Exits with "
        "status 1 when any file or invoice was rejected."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--dry-run", action="store_true", help="check everything, write nothing"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object per line")
        parser.add_argument(
            "--valid-only",
            action="store_true",
            help="import the valid invoices of a CSV and report the rejected ones",
        )
        parser.add_argument(
            "--decimal-mark",
            choices=[POINT, COMMA],
            default="",
            help="decimal mark of the CSV files (point: 1,234.50; comma: 1.234,50); "
            "default: read from each file",
        )
        parser.add_argument(
            "--user",
            help="username of the AP clerk the invoices are captured for (default: system)",
        )

    def handle(self, *args: str, **options: Any) -> None:
        by = None
        if options["user"]:
            by = get_user_model().objects.filter(username=options["user"]).first()
            if by is None:
                raise CommandError(f"No user named {options['user']}.")
            if not roles.may(by, Perm.CAPTURE_INVOICE):
                raise CommandError(
                    f"{by.get_username()} may not capture invoices (needs ap_clerk or ap_manager)."
                )
        order, files, unreadable = _collect(options["files"])
        report = import_files(
            files,
            by=by,
            dry_run=bool(options["dry_run"]),
            valid_only=bool(options["valid_only"]),
            decimal_mark=str(options["decimal_mark"]),
        )
        # Report in the order the files were named, the unreadable ones in their place.
        by_file: dict[str, list[ImportResult]] = {}
        for result in [*unreadable, *report.results]:
            by_file.setdefault(result.file, []).append(result)
        report = ImportReport(results=[r for label in order for r in by_file.get(label, [])])
        for result in report.results:
            self.stdout.write(
                json.dumps(result.as_json(), ensure_ascii=False)
                if options["json"]
                else _describe(result, dry_run=bool(options["dry_run"]))
            )
        if not options["json"]:
            self.stdout.write(_summary(report, dry_run=bool(options["dry_run"])))
        if report.rejected:
            raise CommandError(
                f"{len(report.rejected)} of {len(report.results)} rejected.", returncode=1
            )


def _collect(paths: list[str]) -> tuple[list[str], list[tuple[str, bytes]], list[ImportResult]]:
    """Read the named files (and the importable files in named directories)."""
    order, files, unreadable = [], [], []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            members = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in IMPORTABLE_SUFFIXES
            )
        else:
            members = [path]
        for member in members:
            label = str(member)
            order.append(label)
            limit = MAX_CSV_BYTES if member.suffix.lower() == ".csv" else MAX_DOCUMENT_BYTES
            try:
                size = member.stat().st_size
                if size > limit:
                    unreadable.append(
                        ImportResult(
                            file=label,
                            ok=False,
                            error=f"The file is {size / 1024 / 1024:.1f} MB; files above "
                            f"{limit // 1024 // 1024} MB are refused.",
                        )
                    )
                    continue
                files.append((label, member.read_bytes()))
            except OSError as exc:
                unreadable.append(
                    ImportResult(
                        file=label, ok=False, error=f"Cannot read the file: {exc.strerror}."
                    )
                )
    return list(dict.fromkeys(order)), files, unreadable


def _describe(result: ImportResult, *, dry_run: bool) -> str:
    if not result.ok:
        return f"REJECTED {result.file}: {result.error}"
    facts = result.as_json()
    what = "credit note" if facts["document_type"] == "credit_note" else "invoice"
    verb = "would import" if dry_run else "imported"
    target = f" as #{result.invoice_id}" if result.invoice_id is not None else ""
    return (
        f"OK {result.file}: {verb} {what} {facts['number']} from "
        f"{facts['seller_name'] or facts['seller_tax_id']}, "
        f"{facts['payable_amount']} {facts['currency']} payable{target}"
    )


def _summary(report: ImportReport, *, dry_run: bool) -> str:
    accepted = len(report.results) - len(report.rejected)
    verb = "would be imported" if dry_run else "imported"
    return f"{accepted} {verb}, {len(report.rejected)} rejected."
