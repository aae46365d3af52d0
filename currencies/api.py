"""Exchange-rates API: the rate table (read, and manual rates in) and the conversion lookup."""

from decimal import Decimal

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from currencies import selectors, services
from currencies.filters import RateFilter
from currencies.models import CURRENCY_PATTERN, RATE_DIGITS, RATE_PLACES, ExchangeRate
from p2p import roles
from p2p.api import validated_input
from p2p.http import request_user
from p2p.roles import Perm


def _currency_field(help_text: str = "") -> serializers.RegexField:
    return serializers.RegexField(
        CURRENCY_PATTERN, max_length=3, min_length=3, help_text=help_text or None
    )


class ExchangeRateSerializer(serializers.ModelSerializer):
    """1 base_currency = rate quote_currency on rate_date."""

    entered_by: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ExchangeRate
        fields = [
            "id",
            "rate_date",
            "base_currency",
            "quote_currency",
            "rate",
            "source",
            "recorded_at",
            "entered_by",
            "reason",
        ]


class ManualRateInputSerializer(serializers.Serializer):
    rate_date = serializers.DateField()
    base_currency = _currency_field()
    quote_currency = _currency_field()
    rate = serializers.DecimalField(
        max_digits=RATE_DIGITS, decimal_places=RATE_PLACES, min_value=Decimal("1e-12")
    )
    reason = serializers.CharField(max_length=300)


# `from` is a Python keyword, so this serializer is built from a dict of its fields.
ConvertInputSerializer = type(
    "ConvertInputSerializer",
    (serializers.Serializer,),
    {
        "from": _currency_field(help_text="The currency of the amount, e.g. GBP."),
        "to": _currency_field(help_text="The currency wanted, e.g. EUR."),
        "date": serializers.DateField(help_text="The day whose rate applies."),
        "amount": serializers.DecimalField(
            max_digits=18, decimal_places=2, required=False, help_text="Optional amount."
        ),
    },
)


class ConversionSerializer(serializers.Serializer):
    """The rate the lookup rule found and, when an amount was given, the amount converted."""

    from_currency = serializers.CharField()
    to_currency = serializers.CharField()
    date = serializers.DateField()
    rate = serializers.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    converted_amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)


class ExchangeRateViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Daily rates by currency pair, from the ECB or entered by hand; and the lookup."""

    queryset = selectors.rate_list_queryset()
    serializer_class = ExchangeRateSerializer
    filterset_class = RateFilter
    ordering_fields = ["id", "rate_date"]

    def get_permissions(self) -> list[BasePermission]:
        perm = Perm.MANAGE_RATES if self.action == "create" else Perm.READ_RATES
        return [roles.api_permission(perm)()]

    @extend_schema(request=ManualRateInputSerializer, responses={201: ExchangeRateSerializer})
    def create(self, request: Request) -> Response:
        """Enter (or correct) a rate for a pair the ECB does not publish; audited."""
        payload = validated_input(ManualRateInputSerializer, request)
        rate = services.manual_rate_enter(by=request_user(request), **payload)
        return Response(ExchangeRateSerializer(rate).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[ConvertInputSerializer], responses=ConversionSerializer)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def convert(self, request: Request) -> Response:
        """The from→to rate on a date by the lookup rule (400 when there is none), and the
        amount converted, rounded to the target currency's minor unit."""
        payload = ConvertInputSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        source, target, on = data["from"], data["to"], data["date"]
        amount = data.get("amount")
        conversion = {
            "from_currency": source,
            "to_currency": target,
            "date": on,
            "rate": selectors.rate(source, target, on),
            "amount": amount,
            "converted_amount": (
                selectors.convert(amount, source, target, on) if amount is not None else None
            ),
        }
        return Response(ConversionSerializer(conversion).data)
