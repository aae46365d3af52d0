"""AP's figures about vendors in the API, under the vendors' own /api/vendors/ paths."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.roles import Perm
from payables.selectors.vendors import SCORECARD_PERIODS, vendor_scorecard, vendors_on_payment_hold
from vendors import selectors
from vendors.api import VendorSerializer
from vendors.filters import VendorFilter
from vendors.models import Vendor


class ExceptionCountSerializer(serializers.Serializer):
    type = serializers.CharField()
    # A field named like Field.label (the field's own caption): the API's name for the type's label.
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()
    open = serializers.IntegerField()


class DiscountLineSerializer(serializers.Serializer):
    currency = serializers.CharField()
    available = serializers.DecimalField(max_digits=18, decimal_places=2)
    taken = serializers.DecimalField(max_digits=18, decimal_places=2)
    missed = serializers.DecimalField(max_digits=18, decimal_places=2)


class ScorecardSerializer(serializers.Serializer):
    """A vendor's invoices in the period: accuracy, exceptions, prices, payment, discounts."""

    vendor_id = serializers.IntegerField()
    period = serializers.CharField()
    since = serializers.DateField(allow_null=True)
    invoices = serializers.IntegerField()
    clean_invoices = serializers.IntegerField()
    accuracy = serializers.DecimalField(max_digits=7, decimal_places=4, allow_null=True)
    exceptions = ExceptionCountSerializer(many=True)
    priced_lines = serializers.IntegerField()
    lines_above_po_price = serializers.IntegerField()
    average_price_variance = serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        allow_null=True,
        help_text="Mean (invoice − PO) ÷ PO price.",
    )
    paid = serializers.IntegerField()
    paid_on_time = serializers.IntegerField()
    on_time_rate = serializers.DecimalField(max_digits=7, decimal_places=4, allow_null=True)
    discounts = DiscountLineSerializer(many=True)


class PaymentHoldSerializer(VendorSerializer):
    """A vendor whose invoices payment runs leave out, why, and what is held."""

    reasons = serializers.SerializerMethodField()
    held_invoices = serializers.IntegerField(read_only=True)
    held_amount = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)

    class Meta(VendorSerializer.Meta):
        fields = [*VendorSerializer.Meta.fields, "reasons", "held_invoices", "held_amount"]
        read_only_fields = fields

    def get_reasons(self, vendor: Vendor) -> list[str]:
        return selectors.hold_reasons(vendor)


class VendorFiguresViewSet(viewsets.GenericViewSet):
    """AP's figures about vendors under /api/vendors/: the scorecard and the payment holds."""

    queryset = Vendor.objects.with_payment_hold().select_related("payment_terms")
    serializer_class = VendorSerializer
    filterset_class = VendorFilter
    ordering_fields = ["id", "name"]
    permission_classes = [roles.api_permission(Perm.READ_VENDORS)]

    @extend_schema(
        parameters=[OpenApiParameter("period", str, enum=list(SCORECARD_PERIODS), default="12m")],
        responses=ScorecardSerializer,
    )
    @action(detail=True, methods=["get"])
    def scorecard(self, request: Request, pk: str | None = None) -> Response:
        """The vendor's scorecard over its invoices captured in the period."""
        scorecard = vendor_scorecard(self.get_object(), request.query_params.get("period", ""))
        return Response(ScorecardSerializer(scorecard).data)

    @extend_schema(responses=PaymentHoldSerializer(many=True))
    @action(
        detail=False,
        methods=["get"],
        url_path="payment-holds",
        filterset_class=None,
        pagination_class=None,
        permission_classes=[roles.api_permission(Perm.READ_PAYMENT_HOLDS)],
    )
    def payment_holds(self, request: Request) -> Response:
        """Vendors whose invoices payment runs leave out, with the reasons and amounts held."""
        holds = vendors_on_payment_hold()
        return Response(PaymentHoldSerializer(holds, many=True).data)
