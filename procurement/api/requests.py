"""Purchase requests through the API: list, create, edit, submit, withdraw, copy, decide."""

from django.db.models import Prefetch, QuerySet
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
from p2p.http import AuthenticatedRequest, request_user
from p2p.roles import Perm
from procurement import selectors
from procurement.api.approvals import ApprovalStepSerializer, DecisionInputSerializer
from procurement.api.common import _schema_only
from procurement.filters import PurchaseRequestFilter
from procurement.models import (
    ApprovalStep,
    Category,
    CostCenter,
    GLAccount,
    PurchaseRequest,
    PurchaseRequestLine,
    RequestAttachment,
)
from procurement.services.approvals import approval_decide, can_decide
from procurement.services.requests import (
    LineInput,
    request_copy,
    request_create,
    request_submit,
    request_update,
    request_withdraw,
)
from vendors.models import Vendor


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


class PurchaseRequestViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Purchase requests: requesters see their own, approvers, buyers, AP and finance see all."""

    serializer_class = PurchaseRequestSerializer
    filterset_class = PurchaseRequestFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_PURCHASING)]

    def get_queryset(self) -> QuerySet[PurchaseRequest]:
        if _schema_only(self):
            return PurchaseRequest.objects.none()
        # The same visibility rule as the HTML pages: plain requesters see their own.
        return (
            selectors.visible_requests(request_user(self.request))
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
            return [roles.api_permission(Perm.RAISE_REQUEST)()]
        return super().get_permissions()

    @extend_schema(request=RequestCreateSerializer, responses={201: PurchaseRequestSerializer})
    def create(self, request: Request) -> Response:
        """Save a draft request with its lines (requesters)."""
        payload = validated_input(RequestCreateSerializer, request)
        purchase_request = request_create(by=request_user(request), **_request_values(payload))
        return self._respond(purchase_request, status.HTTP_201_CREATED)

    @extend_schema(request=RequestCreateSerializer, responses=PurchaseRequestSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        """Replace a request's header and lines (its requester while it can change, or an
        approver it waits on — who then may not approve it)."""
        payload = validated_input(RequestCreateSerializer, request)
        purchase_request = request_update(
            request=self.get_object(), by=request_user(request), **_request_values(payload)
        )
        return self._respond(purchase_request)

    @extend_schema(request=None, responses={201: PurchaseRequestSerializer})
    @action(detail=True, methods=["post"])
    def copy(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """A new draft for the caller with the same header and lines."""
        purchase_request = request_copy(request=self.get_object(), by=request.user)
        return self._respond(purchase_request, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Send a draft or returned request into approval."""
        purchase_request = request_submit(request=self.get_object(), by=request.user)
        return self._respond(purchase_request)

    @extend_schema(request=None, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """The requester takes the request back."""
        purchase_request = request_withdraw(request=self.get_object(), by=request.user)
        return self._respond(purchase_request)

    @extend_schema(request=DecisionInputSerializer, responses=PurchaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
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
