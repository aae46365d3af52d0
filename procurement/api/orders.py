"""Purchase orders through the API: create from requests, issue, re-approval, change orders,
send, close and cancel."""

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.exceptions import InvalidTransition
from p2p.http import AuthenticatedRequest, request_user
from p2p.roles import Perm
from procurement import selectors
from procurement.api.approvals import DecisionInputSerializer
from procurement.api.common import _schema_only
from procurement.filters import PurchaseOrderFilter
from procurement.models import (
    ApprovalStep,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderRevision,
    PurchaseRequest,
)
from procurement.services.approvals import approval_decide, can_decide
from procurement.services.orders import (
    OrderSelection,
    po_cancel,
    po_close,
    po_create_from_request,
    po_create_from_requests,
    po_issue,
    po_request_reapproval,
)
from procurement.services.revisions import PoLineChange, po_revise
from procurement.services.sending import po_send
from vendors.models import PaymentTerms, Vendor


class PurchaseOrderLineSerializer(serializers.ModelSerializer):
    """One ordered line with its coding, match type and what has been received."""

    match_type_display = serializers.CharField(source="get_match_type_display", read_only=True)

    class Meta:
        model = PurchaseOrderLine
        fields = [
            "id",
            "line_no",
            "item_code",
            "description",
            "quantity",
            "uom",
            "unit_price",
            "amount",
            "gl_account",
            "cost_center",
            "match_type",
            "match_type_display",
            "received_qty",
        ]
        read_only_fields = fields


class PurchaseOrderRevisionSerializer(serializers.ModelSerializer):
    """One version of a PO: as issued (0) or after a change order."""

    created_by_username = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = PurchaseOrderRevision
        fields = [
            "id",
            "number",
            "status",
            "reason",
            "changes",
            "total_amount",
            "created_by_username",
            "created_at",
            "decided_at",
            "snapshot",
        ]
        read_only_fields = fields


class PurchaseOrderSerializer(serializers.ModelSerializer):
    """A purchase order with its lines, the requests it combines and its revisions."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    buyer_username = serializers.CharField(source="buyer.username", read_only=True)
    request_number = serializers.CharField(
        source="request.number", read_only=True, allow_null=True, default=None
    )
    request_numbers: "serializers.SlugRelatedField[PurchaseRequest]" = serializers.SlugRelatedField(
        source="requests", many=True, read_only=True, slug_field="number"
    )
    payment_terms_code = serializers.CharField(source="payment_terms.code", read_only=True)
    lines = PurchaseOrderLineSerializer(many=True, read_only=True)
    revisions = PurchaseOrderRevisionSerializer(many=True, read_only=True)

    class Meta:
        model = PurchaseOrder
        fields = [
            "id",
            "number",
            "status",
            "status_display",
            "revision",
            "vendor",
            "vendor_name",
            "buyer",
            "buyer_username",
            "request",
            "request_number",
            "request_numbers",
            "currency",
            "total_amount",
            "approved_amount",
            "awaiting_reapproval",
            "payment_terms",
            "payment_terms_code",
            "ship_to",
            "created_at",
            "issued_at",
            "sent_at",
            "closed_at",
            "lines",
            "revisions",
        ]
        read_only_fields = fields


class OrderSelectionSerializer(serializers.Serializer):
    """One approved request and the vendor to order it from."""

    request = serializers.PrimaryKeyRelatedField(queryset=PurchaseRequest.objects.all())
    vendor = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all())


class OrderRequestsSerializer(serializers.Serializer):
    """Order several approved requests: one draft PO per vendor."""

    selections = OrderSelectionSerializer(many=True, allow_empty=False)
    payment_terms = serializers.PrimaryKeyRelatedField(
        queryset=PaymentTerms.objects.all(), required=False, allow_null=True, default=None
    )
    ship_to = serializers.CharField(required=False, allow_blank=True, default="")


class IssueInputSerializer(serializers.Serializer):
    """Issue options: confirm prices that differ from the contract; email the vendor."""

    confirm_contract_prices = serializers.BooleanField(required=False, default=False)
    send_to_vendor = serializers.BooleanField(required=False, default=True)


class PoLineChangeSerializer(serializers.Serializer):
    """New quantity and/or unit price for one PO line."""

    po_line = serializers.IntegerField()
    quantity = serializers.DecimalField(
        max_digits=18, decimal_places=4, required=False, allow_null=True, default=None
    )
    unit_price = serializers.DecimalField(
        max_digits=18, decimal_places=4, required=False, allow_null=True, default=None
    )


class ReviseInputSerializer(serializers.Serializer):
    """A change order: why, and what changes on which lines."""

    reason = serializers.CharField()
    lines = PoLineChangeSerializer(many=True, allow_empty=False)


class ReasonInputSerializer(serializers.Serializer):
    """Why a PO is closed or cancelled."""

    reason = serializers.CharField(required=False, allow_blank=True, default="")


class SendInputSerializer(serializers.Serializer):
    """Where to email the PO; empty means the vendor's address."""

    to = serializers.ListField(child=serializers.EmailField(), required=False, default=list)


class PurchaseOrderCreateSerializer(serializers.Serializer):
    """Order an approved request from a vendor."""

    request = serializers.PrimaryKeyRelatedField(queryset=PurchaseRequest.objects.all())
    vendor = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all())
    payment_terms = serializers.PrimaryKeyRelatedField(
        queryset=PaymentTerms.objects.all(), required=False, allow_null=True, default=None
    )
    ship_to = serializers.CharField(required=False, allow_blank=True, default="")


class PurchaseOrderViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Purchase orders: created from approved requests and issued by buyers."""

    serializer_class = PurchaseOrderSerializer
    filterset_class = PurchaseOrderFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_PURCHASING)]

    def get_queryset(self) -> QuerySet[PurchaseOrder]:
        if _schema_only(self):
            return PurchaseOrder.objects.none()
        return (
            selectors.visible_purchase_orders(request_user(self.request))
            .select_related("vendor", "buyer", "request", "payment_terms")
            .prefetch_related(
                "lines",
                Prefetch(
                    "requests",
                    queryset=PurchaseRequest.objects.only("id", "number").order_by("pk"),
                ),
                Prefetch(
                    "revisions",
                    queryset=PurchaseOrderRevision.objects.select_related("created_by").order_by(
                        "id"
                    ),
                ),
            )
        )

    def get_permissions(self):
        if self.action in ("create", "from_requests"):
            return [roles.api_permission(Perm.MANAGE_ORDERS)()]
        return super().get_permissions()

    @extend_schema(request=PurchaseOrderCreateSerializer, responses={201: PurchaseOrderSerializer})
    def create(self, request: Request) -> Response:
        """Turn an approved request into a draft PO for a vendor (buyers)."""
        data = validated_input(PurchaseOrderCreateSerializer, request)
        po = po_create_from_request(
            request=data["request"],
            vendor=data["vendor"],
            payment_terms=data["payment_terms"],
            ship_to=data["ship_to"],
            by=request_user(request),
        )
        return self._respond(po, status.HTTP_201_CREATED)

    @extend_schema(
        request=OrderRequestsSerializer, responses={201: PurchaseOrderSerializer(many=True)}
    )
    @action(detail=False, methods=["post"], url_path="from-requests")
    def from_requests(self, request: AuthenticatedRequest) -> Response:
        """Order several approved requests at once: one draft PO per vendor (buyers)."""
        data = validated_input(OrderRequestsSerializer, request)
        orders = po_create_from_requests(
            selections=[
                OrderSelection(request=item["request"], vendor=item["vendor"])
                for item in data["selections"]
            ],
            payment_terms=data["payment_terms"],
            ship_to=data["ship_to"],
            by=request.user,
        )
        fresh = self.get_queryset().filter(pk__in=[po.pk for po in orders]).order_by("pk")
        return Response(self.get_serializer(fresh, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=IssueInputSerializer, responses=PurchaseOrderSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[roles.api_permission(Perm.MANAGE_ORDERS)]
    )
    def issue(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Issue a draft PO to its vendor (and email it, unless told not to)."""
        payload = validated_input(IssueInputSerializer, request)
        po = po_issue(po=self.get_object(), by=request.user, **payload)
        return self._respond(po)

    @extend_schema(request=ReviseInputSerializer, responses=PurchaseOrderSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[roles.api_permission(Perm.MANAGE_ORDERS)]
    )
    def revise(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Change order: new quantities or prices; above the approved amount it waits for
        re-approval (see `awaiting_reapproval` and the pending revision)."""
        data = validated_input(ReviseInputSerializer, request)
        po = po_revise(
            po=self.get_object(),
            by=request.user,
            reason=data["reason"],
            lines=[
                PoLineChange(
                    po_line_id=line["po_line"],
                    quantity=line["quantity"],
                    unit_price=line["unit_price"],
                )
                for line in data["lines"]
            ],
        )
        return self._respond(po)

    @extend_schema(request=None, responses=PurchaseOrderSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[roles.api_permission(Perm.MANAGE_ORDERS)]
    )
    def reapproval(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Send a draft above its approved amount back to the approvers."""
        po = po_request_reapproval(po=self.get_object(), by=request.user)
        return self._respond(po)

    @extend_schema(request=ReasonInputSerializer, responses=PurchaseOrderSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[roles.api_permission(Perm.MANAGE_ORDERS)]
    )
    def close(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Close an issued PO, releasing its open commitment."""
        payload = validated_input(ReasonInputSerializer, request)
        po = po_close(po=self.get_object(), by=request.user, **payload)
        return self._respond(po)

    @extend_schema(request=ReasonInputSerializer, responses=PurchaseOrderSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[roles.api_permission(Perm.MANAGE_ORDERS)]
    )
    def cancel(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Cancel a PO nothing was received or invoiced on; its requests can be ordered again."""
        payload = validated_input(ReasonInputSerializer, request)
        po = po_cancel(po=self.get_object(), by=request.user, **payload)
        return self._respond(po)

    @extend_schema(request=SendInputSerializer, responses=PurchaseOrderSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[roles.api_permission(Perm.MANAGE_ORDERS)]
    )
    def send(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Email the PO document (PDF attached) to the vendor or the given addresses."""
        payload = validated_input(SendInputSerializer, request)
        po = po_send(po=self.get_object(), by=request.user, recipients=payload["to"] or None)
        return self._respond(po)

    @extend_schema(request=DecisionInputSerializer, responses=PurchaseOrderSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[roles.api_permission(Perm.APPROVE_REQUEST)],
    )
    def decide(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Approve, reject or return the pending re-approval step this user may decide."""
        payload = validated_input(DecisionInputSerializer, request)
        po = self.get_object()
        pending = list(po.approvals.filter(status=ApprovalStep.Status.PENDING))
        if not pending:
            raise InvalidTransition(f"{po.number} is not waiting for re-approval.")
        step = next((s for s in pending if can_decide(s, request.user)), pending[0])
        approval_decide(step=step, by=request.user, **payload)
        return self._respond(po)
