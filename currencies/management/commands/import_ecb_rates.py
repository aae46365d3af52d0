"""manage.py import_ecb_rates <file>: load an ECB reference-rate XML file (daily or history)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from currencies import services
from p2p.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Import an ECB euro reference-rate file (eurofxref-daily.xml, eurofxref-hist.xml, "
        "eurofxref-hist-90d.xml). Importing a file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="Path to the XML file")

    def handle(self, *args: object, **options: object) -> None:
        path = options["file"]
        assert isinstance(path, Path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        try:
            result = services.ecb_rates_import(data=data, by=None)
        except DomainError as exc:
            raise CommandError(f"{path.name}: {exc.message} Nothing was imported.") from None
        self.stdout.write(self.style.SUCCESS(f"{path.name}: {result.summary()}."))
