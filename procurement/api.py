"""Procurement API: requests and their approvals, purchase orders and receipts.

Every write parses its input with a plain serializer, calls the service and answers with
the document re-read through the ViewSet's queryset, so a response looks like a GET.
"""

from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.exceptions import InvalidTransition
from procurement import selectors
from procurement.filters import (
    BudgetFilter,
    PurchaseOrderFilter,
    PurchaseRequestFilter,
    ReceiptFilter,
)
from procurement.models import (
    ApprovalStep,
    Budget,
    Category,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderRevision,
    PurchaseRequest,
    PurchaseRequestLine,
    Receipt,
    ReceiptLine,
    RequestAttachment,
)
from procurement.services.approvals import Decision, approval_decide, can_decide
from procurement.services.orders import (
    OrderSelection,
    po_cancel,
    po_close,
    po_create_from_request,
    po_create_from_requests,
    po_issue,
    po_request_reapproval,
)
from procurement.services.receipts import ReceiptLineInput, receipt_post
from procurement.services.requests import (
    LineInput,
    request_copy,
    request_create,
    request_submit,
    request_update,
    request_withdraw,
)
from procurement.services.revisions import PoLineChange, po_revise
from procurement.services.sending import po_send
from vendors.models import PaymentTerms, Vendor


def _schema_only(view: viewsets.GenericViewSet) -> bool:
    """drf-spectacular inspects querysets with an anonymous user, who owns nothing."""
    return getattr(view, "swagger_fake_view", False)


# --- output serializers -------------------------------------------------------------------


class PurchaseRequestLineSerializer(serializers.ModelSerializer):
    """One requested line."""

    class Meta:
        model = PurchaseRequestLine
        fields = [
            "id",
            "line_no",
            "item_code",
            "description",
            "quantity",
            "uom",
            "unit_price",
            "amount",
            "needed_by",
        ]
        read_only_fields = fields


class RequestAttachmentSerializer(serializers.ModelSerializer):
    """A file on a request; `url` downloads it for users who may see the request."""

    url = serializers.SerializerMethodField()

    class Meta:
        model = RequestAttachment
        fields = ["id", "original_name", "content_type", "size", "uploaded_at", "url"]
        read_only_fields = fields

    def get_url(self, attachment: RequestAttachment) -> str:
        return reverse(
            "procurement:request_attachment", args=[attachment.request_id, attachment.pk]
        )


class ApprovalStepSerializer(serializers.ModelSerializer):
    """One approval step with who may decide it and what was decided."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    approver = serializers.CharField(source="approver_label", read_only=True)
    decided_by_username = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True, default=None
    )
    on_behalf_of_username = serializers.CharField(
        source="on_behalf_of.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ApprovalStep
        fields = [
            "id",
            "step",
            "kind",
            "status",
            "status_display",
            "approver",
            "amount",
            "reason",
            "purchase_order",
            "decided_by",
            "decided_by_username",
            "on_behalf_of_username",
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
    attachments = RequestAttachmentSerializer(many=True, read_only=True)

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
            "attachments",
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
    request_numbers = serializers.SlugRelatedField(
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


def _not_past(value):
    # Checked where people type dates; the services also replay history (demo, imports).
    if value and value < timezone.localdate():
        raise serializers.ValidationError("The needed-by date is in the past.")
    return value


class RequestLineInputSerializer(serializers.Serializer):
    """A requested line as typed; a contract item may leave the price to the contract."""

    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4)
    unit_price = serializers.DecimalField(
        max_digits=18, decimal_places=4, required=False, allow_null=True, default=None
    )
    uom = serializers.CharField(max_length=10, required=False, default="EA")
    item_code = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    needed_by = serializers.DateField(required=False, allow_null=True, default=None)

    def validate_needed_by(self, value):
        return _not_past(value)


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

    def validate_needed_by(self, value):
        return _not_past(value)


def _line_inputs(lines: list[dict]) -> list[LineInput]:
    return [
        LineInput(
            description=line["description"],
            quantity=line["quantity"],
            unit_price=line["unit_price"],
            uom=line["uom"],
            item_code=line["item_code"],
            needed_by=line["needed_by"],
        )
        for line in lines
    ]


def _request_values(data: dict) -> dict:
    return {
        "title": data["title"],
        "cost_center": data["cost_center"],
        "gl_account": data["gl_account"],
        "category": data["category"],
        "currency": data["currency"],
        "needed_by": data["needed_by"],
        "justification": data["justification"],
        "preferred_vendor": data["preferred_vendor"],
        "lines": _line_inputs(data["lines"]),
    }


class DecisionInputSerializer(serializers.Serializer):
    """An approver's decision on the step waiting for them."""

    decision = serializers.ChoiceField(choices=Decision.ALL)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


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


class BudgetSerializer(serializers.ModelSerializer):
    """A budget and its position: available = amount − committed − spent."""

    cost_center_code = serializers.CharField(source="cost_center.code", read_only=True)
    gl_account_code = serializers.CharField(
        source="gl_account.code", read_only=True, allow_null=True, default=None
    )
    committed = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)
    spent = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)
    available = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)

    class Meta:
        model = Budget
        fields = [
            "id",
            "cost_center",
            "cost_center_code",
            "gl_account",
            "gl_account_code",
            "period_start",
            "period_end",
            "currency",
            "amount",
            "committed",
            "spent",
            "available",
            "overrun_policy",
            "note",
            "updated_at",
        ]
        read_only_fields = fields


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


class PurchaseRequestViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
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
                        "approver_user", "approver_group", "decided_by", "on_behalf_of"
                    ),
                ),
                Prefetch("attachments", queryset=RequestAttachment.objects.current()),
            )
        )

    def get_permissions(self):
        if self.action in ("create", "copy"):
            return [roles.api_roles(roles.REQUESTER)()]
        return super().get_permissions()

    @extend_schema(request=RequestCreateSerializer, responses={201: PurchaseRequestSerializer})
    def create(self, request: Request) -> Response:
        """Save a draft request with its lines (requesters)."""
        payload = validated_input(RequestCreateSerializer, request)
        purchase_request = request_create(by=request.user, **_request_values(payload))
        return self._respond(purchase_request, status.HTTP_201_CREATED)

    @extend_schema(request=RequestCreateSerializer, responses=PurchaseRequestSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        """Replace a request's header and lines (its requester while it can change, or an
        approver it waits on — who then may not approve it)."""
        payload = validated_input(RequestCreateSerializer, request)
        purchase_request = request_update(
            request=self.get_object(), by=request.user, **_request_values(payload)
        )
        return self._respond(purchase_request)

    @extend_schema(request=None, responses={201: PurchaseRequestSerializer})
    @action(detail=True, methods=["post"])
    def copy(self, request: Request, pk: str | None = None) -> Response:
        """A new draft for the caller with the same header and lines."""
        purchase_request = request_copy(request=self.get_object(), by=request.user)
        return self._respond(purchase_request, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """Send a draft or returned request into approval."""
        purchase_request = request_submit(request=self.get_object(), by=request.user)
        return self._respond(purchase_request)

    @extend_schema(request=None, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        """The requester takes the request back."""
        purchase_request = request_withdraw(request=self.get_object(), by=request.user)
        return self._respond(purchase_request)

    @extend_schema(request=DecisionInputSerializer, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        """Approve, reject or return the pending step this user may decide."""
        payload = validated_input(DecisionInputSerializer, request)
        purchase_request = self.get_object()
        pending = [
            step
            for step in purchase_request.approvals.all()
            if step.status == ApprovalStep.Status.PENDING and step.purchase_order_id is None
        ]
        if not pending:
            raise InvalidTransition(
                f"{purchase_request.number} is {purchase_request.get_status_display().lower()}, "
                "not awaiting approval."
            )
        # Without a step of their own, hand the service the pending one anyway: it gives
        # the precise refusal (own request, or not assigned to you).
        step = next((s for s in pending if can_decide(s, request.user)), pending[0])
        approval_decide(
            step=step,
            by=request.user,
            decision=payload["decision"],
            comment=payload["comment"],
        )
        return self._respond(purchase_request)


class PurchaseOrderViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
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
            return [roles.api_roles(roles.BUYER)()]
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
            by=request.user,
        )
        return self._respond(po, status.HTTP_201_CREATED)

    @extend_schema(
        request=OrderRequestsSerializer, responses={201: PurchaseOrderSerializer(many=True)}
    )
    @action(detail=False, methods=["post"], url_path="from-requests")
    def from_requests(self, request: Request) -> Response:
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
    @action(detail=True, methods=["post"], permission_classes=[roles.api_roles(roles.BUYER)])
    def issue(self, request: Request, pk: str | None = None) -> Response:
        """Issue a draft PO to its vendor (and email it, unless told not to)."""
        payload = validated_input(IssueInputSerializer, request)
        po = po_issue(po=self.get_object(), by=request.user, **payload)
        return self._respond(po)

    @extend_schema(request=ReviseInputSerializer, responses=PurchaseOrderSerializer)
    @action(detail=True, methods=["post"], permission_classes=[roles.api_roles(roles.BUYER)])
    def revise(self, request: Request, pk: str | None = None) -> Response:
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
    @action(detail=True, methods=["post"], permission_classes=[roles.api_roles(roles.BUYER)])
    def reapproval(self, request: Request, pk: str | None = None) -> Response:
        """Send a draft above its approved amount back to the approvers."""
        po = po_request_reapproval(po=self.get_object(), by=request.user)
        return self._respond(po)

    @extend_schema(request=ReasonInputSerializer, responses=PurchaseOrderSerializer)
    @action(detail=True, methods=["post"], permission_classes=[roles.api_roles(roles.BUYER)])
    def close(self, request: Request, pk: str | None = None) -> Response:
        """Close an issued PO, releasing its open commitment."""
        payload = validated_input(ReasonInputSerializer, request)
        po = po_close(po=self.get_object(), by=request.user, **payload)
        return self._respond(po)

    @extend_schema(request=ReasonInputSerializer, responses=PurchaseOrderSerializer)
    @action(detail=True, methods=["post"], permission_classes=[roles.api_roles(roles.BUYER)])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a PO nothing was received or invoiced on; its requests can be ordered again."""
        payload = validated_input(ReasonInputSerializer, request)
        po = po_cancel(po=self.get_object(), by=request.user, **payload)
        return self._respond(po)

    @extend_schema(request=SendInputSerializer, responses=PurchaseOrderSerializer)
    @action(detail=True, methods=["post"], permission_classes=[roles.api_roles(roles.BUYER)])
    def send(self, request: Request, pk: str | None = None) -> Response:
        """Email the PO document (PDF attached) to the vendor or the given addresses."""
        payload = validated_input(SendInputSerializer, request)
        po = po_send(po=self.get_object(), by=request.user, recipients=payload["to"] or None)
        return self._respond(po)

    @extend_schema(request=DecisionInputSerializer, responses=PurchaseOrderSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[roles.api_roles(roles.APPROVER, roles.FINANCE_LEADER)],
    )
    def decide(self, request: Request, pk: str | None = None) -> Response:
        """Approve, reject or return the pending re-approval step this user may decide."""
        payload = validated_input(DecisionInputSerializer, request)
        po = self.get_object()
        pending = list(po.approvals.filter(status=ApprovalStep.Status.PENDING))
        if not pending:
            raise InvalidTransition(f"{po.number} is not waiting for re-approval.")
        step = next((s for s in pending if can_decide(s, request.user)), pending[0])
        approval_decide(step=step, by=request.user, **payload)
        return self._respond(po)


class BudgetViewSet(viewsets.ReadOnlyModelViewSet):
    """Budgets with committed, spent and available, per cost center and period."""

    serializer_class = BudgetSerializer
    filterset_class = BudgetFilter
    ordering_fields = ["id"]
    permission_classes = [
        roles.api_roles(roles.APPROVER, roles.BUYER, roles.FINANCE_LEADER, roles.ADMIN)
    ]

    def get_queryset(self) -> QuerySet[Budget]:
        return selectors.budgets_with_position()


class ReceiptViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
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
        return queryset.filter(
            Q(purchase_order__request__requester=user)
            | Q(purchase_order__in=selectors.visible_purchase_orders(user))
            | Q(received_by=user)
        )

    def get_permissions(self):
        if self.action == "create":
            return [roles.api_roles(roles.REQUESTER, roles.BUYER)()]
        return super().get_permissions()

    @extend_schema(request=ReceiptCreateSerializer, responses={201: ReceiptSerializer})
    def create(self, request: Request) -> Response:
        """Record what arrived or went back on a PO (its requester or a buyer)."""
        data = validated_input(ReceiptCreateSerializer, request)
        receipt = receipt_post(
            po=data["purchase_order"],
            by=request.user,
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
