"""Goods receipts through the API: list and post."""

from django.db.models import Prefetch, Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.http import request_user
from p2p.money import ZERO
from p2p.roles import Perm
from procurement import selectors
from procurement.api.common import _schema_only
from procurement.filters import ReceiptFilter
from procurement.models import PurchaseOrder, Receipt, ReceiptLine
from procurement.services.receipts import ReceiptLineInput, receipt_post


class ReceiptLineSerializer(serializers.ModelSerializer):
    """Quantities received and returned on one PO line."""

    line_no = serializers.IntegerField(source="po_line.line_no", read_only=True)
    description = serializers.CharField(source="po_line.description", read_only=True)

    class Meta:
        model = ReceiptLine
        fields = ["id", "po_line", "line_no", "description", "received_qty", "returned_qty"]
        read_only_fields = fields


class ReceiptSerializer(serializers.ModelSerializer):
    """A goods receipt; its currency is the PO's, shown so every document carries one."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    purchase_order_number = serializers.CharField(source="purchase_order.number", read_only=True)
    currency = serializers.CharField(source="purchase_order.currency", read_only=True)
    received_by_username = serializers.CharField(source="received_by.username", read_only=True)
    lines = ReceiptLineSerializer(many=True, read_only=True)

    class Meta:
        model = Receipt
        fields = [
            "id",
            "number",
            "status",
            "status_display",
            "purchase_order",
            "purchase_order_number",
            "currency",
            "received_by",
            "received_by_username",
            "received_on",
            "note",
            "created_at",
            "lines",
        ]
        read_only_fields = fields


class ReceiptLineInputSerializer(serializers.Serializer):
    """What arrived or went back on one PO line."""

    po_line = serializers.IntegerField()
    received_qty = serializers.DecimalField(max_digits=18, decimal_places=4, default=ZERO)
    returned_qty = serializers.DecimalField(max_digits=18, decimal_places=4, default=ZERO)


class ReceiptCreateSerializer(serializers.Serializer):
    """A goods receipt against a PO."""

    purchase_order = serializers.PrimaryKeyRelatedField(queryset=PurchaseOrder.objects.all())
    received_on = serializers.DateField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    lines = ReceiptLineInputSerializer(many=True, allow_empty=False)


class ReceiptViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Goods receipts; requesters see receipts on their own orders."""

    serializer_class = ReceiptSerializer
    filterset_class = ReceiptFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_PURCHASING)]

    def get_queryset(self) -> QuerySet[Receipt]:
        queryset = Receipt.objects.select_related("purchase_order", "received_by").prefetch_related(
            Prefetch("lines", queryset=ReceiptLine.objects.select_related("po_line").order_by("id"))
        )
        if _schema_only(self):
            return queryset.none()
        user = request_user(self.request)
        if selectors.sees_everything(user):
            return queryset
        return queryset.filter(
            Q(purchase_order__request__requester=user)
            | Q(purchase_order__in=selectors.visible_purchase_orders(user))
            | Q(received_by=user)
        )

    def get_permissions(self):
        if self.action == "create":
            return [roles.api_permission(Perm.RECEIVE_GOODS)()]
        return super().get_permissions()

    @extend_schema(request=ReceiptCreateSerializer, responses={201: ReceiptSerializer})
    def create(self, request: Request) -> Response:
        """Record what arrived or went back on a PO (its requester or a buyer)."""
        data = validated_input(ReceiptCreateSerializer, request)
        receipt = receipt_post(
            po=data["purchase_order"],
            by=request_user(request),
            received_on=data["received_on"],
            note=data["note"],
            lines=[
                ReceiptLineInput(
                    po_line_id=line["po_line"],
                    received_qty=line["received_qty"],
                    returned_qty=line["returned_qty"],
                )
                for line in data["lines"]
            ],
        )
        return self._respond(receipt, status.HTTP_201_CREATED)
