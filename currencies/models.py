"""Exchange rates: one table of daily rates per currency pair, from the ECB or entered by hand."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models

# ISO 4217 codes as stored: three upper-case letters, checked by the database as well.
CURRENCY_PATTERN = r"^[A-Z]{3}$"

# Rates keep twelve decimals: the inverse of the largest ECB rate (IDR, about 17,000 per EUR)
# still has eight significant digits, more than the five or six the ECB publishes; ten digits
# before the point hold any rate a currency has had since redenomination.
RATE_DIGITS = 22
RATE_PLACES = 12


class ExchangeRateQuerySet(models.QuerySet):
    def for_pair(self, base: str, quote: str) -> "ExchangeRateQuerySet":
        return self.filter(base_currency=base, quote_currency=quote)

    def latest_on(self, on: dt.date, since: dt.date) -> "ExchangeRate | None":
        """The newest rate dated on or before `on` and not before `since` (one index probe)."""
        return self.filter(rate_date__lte=on, rate_date__gte=since).order_by("-rate_date").first()

    def involving(self, currency: str) -> "ExchangeRateQuerySet":
        """Rates quoting the currency on either side."""
        return self.filter(models.Q(base_currency=currency) | models.Q(quote_currency=currency))


class RateSource(models.TextChoices):
    """Where a rate comes from; at module level so the model's constraints can name it."""

    ECB = "ecb", "European Central Bank"
    MANUAL = "manual", "Entered by hand"


class ExchangeRate(models.Model):
    """1 base_currency = rate quote_currency on rate_date, as published by a source."""

    Source = RateSource

    rate_date = models.DateField()
    base_currency = models.CharField(max_length=3)
    quote_currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    source = models.CharField(max_length=10, choices=Source.choices)
    # When the row was last written (imported or entered) and, for manual rates, by whom and
    # why; the audit trail keeps every earlier value of a manual rate.
    recorded_at = models.DateTimeField()
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField(max_length=300, blank=True)

    objects = ExchangeRateQuerySet.as_manager()

    class Meta:
        constraints = [
            # One rate per pair and day, whatever its source: a document's rate must not
            # depend on which of two sources a query happens to read first. A manual rate is
            # for a pair the ECB does not publish, so the two never compete for a key; the
            # import leaves a manual row alone and reports it. Ordered base, quote, date, this
            # index also answers "latest rate on or before D" with one backward probe.
            models.UniqueConstraint(
                fields=["base_currency", "quote_currency", "rate_date"],
                name="exchangerate_pair_date_uniq",
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchangerate_rate_gt_0"),
            models.CheckConstraint(
                condition=models.Q(base_currency__regex=CURRENCY_PATTERN)
                & models.Q(quote_currency__regex=CURRENCY_PATTERN),
                name="exchangerate_iso_codes",
            ),
            models.CheckConstraint(
                condition=~models.Q(base_currency=models.F("quote_currency")),
                name="exchangerate_two_currencies",
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=RateSource.values), name="exchangerate_source_valid"
            ),
            # A rate typed by a person says who and why; the ECB's carries neither.
            models.CheckConstraint(
                condition=models.Q(source=RateSource.ECB, entered_by__isnull=True)
                | (
                    models.Q(source=RateSource.MANUAL, entered_by__isnull=False)
                    & ~models.Q(reason="")
                ),
                name="exchangerate_manual_has_author",
            ),
        ]
        indexes = [
            # The rates list: newest day first, currencies alphabetically within a day.
            models.Index(
                fields=["-rate_date", "quote_currency", "base_currency"],
                name="exchangerate_list_idx",
            ),
        ]
        ordering = ["-rate_date", "quote_currency", "base_currency"]

    def __str__(self) -> str:
        return (
            f"{self.rate_date:%Y-%m-%d} 1 {self.base_currency} = "
            f"{plain_rate(self.rate)} {self.quote_currency}"
        )


RATE_STEP = Decimal(1).scaleb(-RATE_PLACES)


def rate_fits(rate: Decimal) -> bool:
    """True when the column stores the rate exactly: no more digits before or after the point."""
    return rate.adjusted() < RATE_DIGITS - RATE_PLACES and rate == rate.quantize(RATE_STEP)


def plain_rate(rate: Decimal) -> str:
    """'1.082300000000' → '1.0823' and '100' stays '100': never exponent form."""
    text = f"{rate:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
