"""Procurement API: requests and their approvals, purchase orders and receipts.

Every write parses its input with a plain serializer, calls the service and answers with
the document re-read through the ViewSet's queryset, so a response looks like a GET.
"""

from django.db.models import Prefetch, Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.exceptions import InvalidTransition
from procurement import selectors, services
from procurement.filters import PurchaseOrderFilter, PurchaseRequestFilter, ReceiptFilter
from procurement.models import (
    ApprovalStep,
    Category,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseRequest,
    PurchaseRequestLine,
    Receipt,
    ReceiptLine,
)
from vendors.models import PaymentTerms, Vendor


def _schema_only(view: viewsets.GenericViewSet) -> bool:
    """drf-spectacular inspects querysets with an anonymous user, who owns nothing."""
    return getattr(view, "swagger_fake_view", False)


# --- output serializers -------------------------------------------------------------------


class PurchaseRequestLineSerializer(serializers.ModelSerializer):
    """One requested line."""

    class Meta:
        model = PurchaseRequestLine
        fields = ["id", "line_no", "description", "quantity", "uom", "unit_price", "amount"]
        read_only_fields = fields


class ApprovalStepSerializer(serializers.ModelSerializer):
    """One approval step with who may decide it and what was decided."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    approver = serializers.CharField(source="approver_label", read_only=True)
    decided_by_username = serializers.CharField(
        source="decided_by.username", read_only=True, default=None
    )

    class Meta:
        model = ApprovalStep
        fields = [
            "id",
            "step",
            "status",
            "status_display",
            "approver",
            "decided_by",
            "decided_by_username",
            "decided_at",
            "comment",
        ]
        read_only_fields = fields


class PurchaseRequestSerializer(serializers.ModelSerializer):
    """A purchase request with its lines and approval steps."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    requester_username = serializers.CharField(source="requester.username", read_only=True)
    cost_center_code = serializers.CharField(source="cost_center.code", read_only=True)
    gl_account_code = serializers.CharField(source="gl_account.code", read_only=True)
    lines = PurchaseRequestLineSerializer(many=True, read_only=True)
    approvals = ApprovalStepSerializer(many=True, read_only=True)

    class Meta:
        model = PurchaseRequest
        fields = [
            "id",
            "number",
            "title",
            "status",
            "status_display",
            "requester",
            "requester_username",
            "cost_center",
            "cost_center_code",
            "gl_account",
            "gl_account_code",
            "category",
            "category_display",
            "preferred_vendor",
            "currency",
            "total_amount",
            "justification",
            "needed_by",
            "created_at",
            "submitted_at",
            "decided_at",
            "lines",
            "approvals",
        ]
        read_only_fields = fields


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


class PurchaseOrderSerializer(serializers.ModelSerializer):
    """A purchase order with its lines."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    buyer_username = serializers.CharField(source="buyer.username", read_only=True)
    request_number = serializers.CharField(source="request.number", read_only=True, default=None)
    payment_terms_code = serializers.CharField(source="payment_terms.code", read_only=True)
    lines = PurchaseOrderLineSerializer(many=True, read_only=True)

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
            "currency",
            "total_amount",
            "payment_terms",
            "payment_terms_code",
            "ship_to",
            "created_at",
            "issued_at",
            "lines",
        ]
        read_only_fields = fields


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


# --- input serializers --------------------------------------------------------------------


class RequestLineInputSerializer(serializers.Serializer):
    """A requested line as typed; the service checks quantities and prices."""

    description = serializers.CharField(max_length=200)
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4)
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=4)
    uom = serializers.CharField(max_length=10, required=False, default="EA")


class RequestCreateSerializer(serializers.Serializer):
    """A new draft request with its lines."""

    title = serializers.CharField(max_length=200)
    cost_center = serializers.PrimaryKeyRelatedField(queryset=CostCenter.objects.all())
    gl_account = serializers.PrimaryKeyRelatedField(queryset=GLAccount.objects.all())
    category = serializers.ChoiceField(choices=Category.choices, default=Category.GOODS)
    currency = serializers.CharField(min_length=3, max_length=3, default="EUR")
    needed_by = serializers.DateField(required=False, allow_null=True, default=None)
    justification = serializers.CharField(required=False, allow_blank=True, default="")
    preferred_vendor = serializers.PrimaryKeyRelatedField(
        queryset=Vendor.objects.all(), required=False, allow_null=True, default=None
    )
    lines = RequestLineInputSerializer(many=True, allow_empty=False)


class DecisionInputSerializer(serializers.Serializer):
    """An approver's decision on the step waiting for them."""

    decision = serializers.ChoiceField(choices=services.Decision.ALL)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class PurchaseOrderCreateSerializer(serializers.Serializer):
    """Order an approved request from a vendor."""

    request = serializers.PrimaryKeyRelatedField(queryset=PurchaseRequest.objects.all())
    vendor = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all())
    payment_terms = serializers.PrimaryKeyRelatedField(
        queryset=PaymentTerms.objects.all(), required=False, allow_null=True, default=None
    )
    ship_to = serializers.CharField(required=False, allow_blank=True, default="")


class ReceiptLineInputSerializer(serializers.Serializer):
    """What arrived or went back on one PO line."""

    po_line = serializers.IntegerField()
    received_qty = serializers.DecimalField(max_digits=18, decimal_places=4, default=0)
    returned_qty = serializers.DecimalField(max_digits=18, decimal_places=4, default=0)


class ReceiptCreateSerializer(serializers.Serializer):
    """A goods receipt against a PO."""

    purchase_order = serializers.PrimaryKeyRelatedField(queryset=PurchaseOrder.objects.all())
    received_on = serializers.DateField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    lines = ReceiptLineInputSerializer(many=True, allow_empty=False)


# --- ViewSets -----------------------------------------------------------------------------


class PurchaseRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Purchase requests: requesters see their own, approvers, buyers, AP and finance see all."""

    serializer_class = PurchaseRequestSerializer
    filterset_class = PurchaseRequestFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_roles(*roles.PO_READERS)]

    def get_queryset(self) -> QuerySet[PurchaseRequest]:
        if _schema_only(self):
            return PurchaseRequest.objects.none()
        # The same visibility rule as the HTML pages: plain requesters see their own.
        return (
            selectors.visible_requests(self.request.user)
            .select_related("requester", "cost_center", "gl_account")
            .prefetch_related(
                "lines",
                Prefetch(
                    "approvals",
                    queryset=ApprovalStep.objects.select_related(
                        "approver_user", "approver_group", "decided_by"
                    ),
                ),
            )
        )

    def get_permissions(self):
        if self.action == "create":
            return [roles.api_roles(roles.REQUESTER)()]
        return super().get_permissions()

    def _respond(
        self, purchase_request: PurchaseRequest, code: int = status.HTTP_200_OK
    ) -> Response:
        fresh = self.get_queryset().get(pk=purchase_request.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(request=RequestCreateSerializer, responses={201: PurchaseRequestSerializer})
    def create(self, request: Request) -> Response:
        """Save a draft request with its lines (requesters)."""
        payload = RequestCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        purchase_request = services.request_create(
            by=request.user,
            title=data["title"],
            cost_center=data["cost_center"],
            gl_account=data["gl_account"],
            category=data["category"],
            currency=data["currency"],
            needed_by=data["needed_by"],
            justification=data["justification"],
            preferred_vendor=data["preferred_vendor"],
            lines=[
                services.LineInput(
                    description=line["description"],
                    quantity=line["quantity"],
                    unit_price=line["unit_price"],
                    uom=line["uom"],
                )
                for line in data["lines"]
            ],
        )
        return self._respond(purchase_request, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """Send a draft or returned request into approval."""
        purchase_request = services.request_submit(request=self.get_object(), by=request.user)
        return self._respond(purchase_request)

    @extend_schema(request=None, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        """The requester takes the request back."""
        purchase_request = services.request_withdraw(request=self.get_object(), by=request.user)
        return self._respond(purchase_request)

    @extend_schema(request=DecisionInputSerializer, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        """Approve, reject or return the pending step this user may decide."""
        payload = DecisionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        purchase_request = self.get_object()
        pending = [
            step
            for step in purchase_request.approvals.all()
            if step.status == ApprovalStep.Status.PENDING
        ]
        if not pending:
            raise InvalidTransition(
                f"{purchase_request.number} is {purchase_request.get_status_display().lower()}, "
                "not awaiting approval."
            )
        # Without a step of their own, hand the service the pending one anyway: it gives
        # the precise refusal (own request, or not assigned to you).
        step = next((s for s in pending if services.can_decide(s, request.user)), pending[0])
        services.approval_decide(
            step=step,
            by=request.user,
            decision=payload.validated_data["decision"],
            comment=payload.validated_data["comment"],
        )
        return self._respond(purchase_request)


class PurchaseOrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Purchase orders: created from approved requests and issued by buyers."""

    serializer_class = PurchaseOrderSerializer
    filterset_class = PurchaseOrderFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_roles(*roles.PO_READERS)]

    def get_queryset(self) -> QuerySet[PurchaseOrder]:
        if _schema_only(self):
            return PurchaseOrder.objects.none()
        return (
            selectors.visible_purchase_orders(self.request.user)
            .select_related("vendor", "buyer", "request", "payment_terms")
            .prefetch_related("lines")
        )

    def get_permissions(self):
        if self.action == "create":
            return [roles.api_roles(roles.BUYER)()]
        return super().get_permissions()

    def _respond(self, po: PurchaseOrder, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=po.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(request=PurchaseOrderCreateSerializer, responses={201: PurchaseOrderSerializer})
    def create(self, request: Request) -> Response:
        """Turn an approved request into a draft PO for a vendor (buyers)."""
        payload = PurchaseOrderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        po = services.po_create_from_request(
            request=data["request"],
            vendor=data["vendor"],
            payment_terms=data["payment_terms"],
            ship_to=data["ship_to"],
            by=request.user,
        )
        return self._respond(po, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PurchaseOrderSerializer)
    @action(detail=True, methods=["post"], permission_classes=[roles.api_roles(roles.BUYER)])
    def issue(self, request: Request, pk: str | None = None) -> Response:
        """Issue a draft PO to its vendor."""
        po = services.po_issue(po=self.get_object(), by=request.user)
        return self._respond(po)


class ReceiptViewSet(viewsets.ReadOnlyModelViewSet):
    """Goods receipts; requesters see receipts on their own orders."""

    serializer_class = ReceiptSerializer
    filterset_class = ReceiptFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_roles(*roles.PO_READERS)]

    def get_queryset(self) -> QuerySet[Receipt]:
        queryset = Receipt.objects.select_related("purchase_order", "received_by").prefetch_related(
            Prefetch("lines", queryset=ReceiptLine.objects.select_related("po_line").order_by("id"))
        )
        if _schema_only(self):
            return queryset.none()
        user = self.request.user
        if selectors.sees_everything(user):
            return queryset
        return queryset.filter(Q(purchase_order__request__requester=user) | Q(received_by=user))

    def get_permissions(self):
        if self.action == "create":
            return [roles.api_roles(roles.REQUESTER, roles.BUYER)()]
        return super().get_permissions()

    @extend_schema(request=ReceiptCreateSerializer, responses={201: ReceiptSerializer})
    def create(self, request: Request) -> Response:
        """Record what arrived or went back on a PO (its requester or a buyer)."""
        payload = ReceiptCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        receipt = services.receipt_post(
            po=data["purchase_order"],
            by=request.user,
            received_on=data["received_on"],
            note=data["note"],
            lines=[
                services.ReceiptLineInput(
                    po_line_id=line["po_line"],
                    received_qty=line["received_qty"],
                    returned_qty=line["returned_qty"],
                )
                for line in data["lines"]
            ],
        )
        fresh = self.get_queryset().get(pk=receipt.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)
