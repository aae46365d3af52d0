"""Exchange-rate changes: the ECB file import, its scheduled fetch, and manual rates."""

import datetime as dt
import logging
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from urllib.error import URLError
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from currencies import ecb
from currencies.models import RATE_DIGITS, RATE_PLACES, ExchangeRate, plain_rate, rate_fits
from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import money_currency
from p2p.roles import Perm

logger = logging.getLogger(__name__)

# file:// lets an installation (and the tests) point the fetch at a local mirror.
FETCH_SCHEMES = ("https", "http", "file")


@dataclass(frozen=True)
class ImportResult:
    """What one ECB file did to the rate table."""

    days: int
    first_day: dt.date
    last_day: dt.date
    new: int
    unchanged: int
    changed: int
    # Pairs someone entered by hand for a day the file also covers: the person's rate stays.
    kept_manual: int

    def summary(self) -> str:
        span = (
            f"{self.first_day:%Y-%m-%d}"
            if self.first_day == self.last_day
            else f"{self.first_day:%Y-%m-%d} to {self.last_day:%Y-%m-%d}"
        )
        text = (
            f"{self.days} day{'s' if self.days != 1 else ''} ({span}): {self.new} new, "
            f"{self.unchanged} unchanged, {self.changed} changed"
        )
        return f"{text}, {self.kept_manual} manual kept" if self.kept_manual else text


def ecb_rates_import(*, data: bytes, by: User | None) -> ImportResult:
    """Upsert every rate of an ECB reference-rate file; importing it again changes nothing.

    The whole file is read and checked before anything is written, and written in one
    transaction: a bad file leaves the table as it was. `by` is None for the scheduled fetch.
    """
    if by is not None:
        roles.require(by, Perm.MANAGE_RATES)
    published = ecb.read_ecb_xml(data)
    days = sorted({rate.rate_date for rate in published})
    now = timezone.now()
    with transaction.atomic():
        # Locked so two imports of overlapping files count and write one after the other.
        stored = {
            (row.rate_date, row.quote_currency): row
            for row in ExchangeRate.objects.select_for_update()
            .filter(base_currency=ecb.ECB_BASE, rate_date__in=days)
            .order_by("pk")
        }
        to_write: list[ExchangeRate] = []
        new = unchanged = changed = kept_manual = 0
        for rate in published:
            row = stored.get((rate.rate_date, rate.quote_currency))
            if row is not None and row.source == ExchangeRate.Source.MANUAL:
                kept_manual += 1
                continue
            if row is not None and row.rate == rate.rate:
                unchanged += 1
                continue
            if row is None:
                new += 1
            else:
                changed += 1
            to_write.append(
                ExchangeRate(
                    rate_date=rate.rate_date,
                    base_currency=ecb.ECB_BASE,
                    quote_currency=rate.quote_currency,
                    rate=rate.rate,
                    source=ExchangeRate.Source.ECB,
                    recorded_at=now,
                )
            )
        # One statement per batch: inserts the new rows and corrects the changed ones.
        ExchangeRate.objects.bulk_create(
            to_write,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["base_currency", "quote_currency", "rate_date"],
            update_fields=["rate", "source", "recorded_at"],
        )
    return ImportResult(
        days=len(days),
        first_day=days[0],
        last_day=days[-1],
        new=new,
        unchanged=unchanged,
        changed=changed,
        kept_manual=kept_manual,
    )


def ecb_rates_fetch() -> ImportResult | None:
    """Download the file at ECB_RATES_URL and import it; None when no URL is set (the default)."""
    url = settings.ECB_RATES_URL
    if not url:
        logger.info("ECB_RATES_URL is empty: exchange rates are not fetched.")
        return None
    result = ecb_rates_import(data=_download(url), by=None)
    logger.info("ECB rates from %s: %s", url, result.summary())
    return result


def _download(url: str) -> bytes:
    if urlsplit(url).scheme not in FETCH_SCHEMES:
        raise DomainError(
            f"ECB_RATES_URL must start with {', '.join(s + '://' for s in FETCH_SCHEMES)}."
        )
    try:
        # The scheme is checked above; the timeout keeps a hanging server from holding a worker.
        with urllib.request.urlopen(url, timeout=settings.ECB_RATES_TIMEOUT) as answer:  # noqa: S310
            data: bytes = answer.read(ecb.MAX_FILE_BYTES + 1)
    except (URLError, OSError) as exc:
        raise DomainError(f"Could not fetch the ECB rates from {url}: {exc}.") from None
    return data


def _currency(value: str, label: str) -> str:
    code = money_currency(value)
    if code is None:
        raise DomainError(f"{label} '{value.strip().upper()}' is not an ISO 4217 currency code.")
    return code


def manual_rate_enter(
    *,
    rate_date: dt.date,
    base_currency: str,
    quote_currency: str,
    rate: Decimal,
    reason: str,
    by: User,
) -> ExchangeRate:
    """Record (or correct) a rate for a pair the ECB does not publish, with the reason; audited."""
    roles.require(by, Perm.MANAGE_RATES)
    base = _currency(base_currency, "Base currency")
    quote = _currency(quote_currency, "Quote currency")
    reason = reason.strip()
    if base == quote:
        raise DomainError("A rate needs two different currencies.")
    if rate_date > timezone.localdate():
        raise DomainError("A rate is recorded for a day that has come, not for a future one.")
    if not rate.is_finite() or rate <= 0:
        raise DomainError("The rate must be above zero.")
    if not rate_fits(rate):
        raise DomainError(
            f"The rate has more digits than a rate keeps ({RATE_DIGITS - RATE_PLACES} before "
            f"the point, {RATE_PLACES} after)."
        )
    if not reason:
        raise DomainError("Say where the rate comes from (the reason is kept with it).")
    with transaction.atomic():
        same_day: list[ExchangeRate] = list(
            ExchangeRate.objects.select_for_update()
            .filter(
                Q(base_currency=base, quote_currency=quote)
                | Q(base_currency=quote, quote_currency=base),
                rate_date=rate_date,
            )
            .order_by("pk")
        )
        existing = next((row for row in same_day if row.base_currency == base), None)
        if any(row.base_currency == quote for row in same_day):
            # Two opposite rates for one day could disagree; the lookup inverts the one kept.
            raise DomainError(
                f"There is already a {quote}→{base} rate for {rate_date:%Y-%m-%d}; "
                "correct that one instead."
            )
        if existing is not None and existing.source != ExchangeRate.Source.MANUAL:
            raise DomainError(
                f"The {existing.get_source_display()} publishes {base}→{quote} for "
                f"{rate_date:%Y-%m-%d}; its rate is used, not a manual one."
            )
        now = timezone.now()
        if existing is None:
            entered = ExchangeRate.objects.create(
                rate_date=rate_date,
                base_currency=base,
                quote_currency=quote,
                rate=rate,
                source=ExchangeRate.Source.MANUAL,
                recorded_at=now,
                entered_by=by,
                reason=reason,
            )
            audit_record(
                obj=entered,
                action=AuditAction.RATE_ENTERED,
                by=by,
                changes={"rate": plain_rate(rate)},
                note=reason,
            )
            return entered
        changes = {"rate": [plain_rate(existing.rate), plain_rate(rate)]}
        existing.rate = rate
        existing.reason = reason
        existing.entered_by = by
        existing.recorded_at = now
        existing.save(update_fields=["rate", "reason", "entered_by", "recorded_at"])
        audit_record(
            obj=existing, action=AuditAction.RATE_CHANGED, by=by, changes=changes, note=reason
        )
        return existing
