"""Exception queue API: read exceptions, claim, comment, resolve one or many.

Writes parse input with a plain serializer, call the service and answer with the document
re-read through the ViewSet's queryset, so a response looks like a GET.
"""

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.http import request_user
from p2p.roles import Perm
from payables.filters import InvoiceExceptionFilter
from payables.models.exceptions import BulkJob, BulkJobItem, ExceptionComment, InvoiceException
from payables.models.invoices import Invoice
from payables.selectors import exceptions as exception_selectors
from payables.services.actions import exception_act
from payables.services.bulk import bulk_resolve_start
from payables.services.exceptions import (
    action_choices,
    exception_claim,
    exception_claim_next,
    exception_comment,
    exception_release,
)
from procurement.models import CostCenter, GLAccount, PurchaseOrderLine

# --- output serializers -------------------------------------------------------------------


class InvoiceExceptionSerializer(serializers.ModelSerializer):
    """An exception in the queue, who owns it and how it was resolved."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    type_display = serializers.CharField(source="get_type_display", read_only=True)
    owner_display = serializers.CharField(source="get_owner_display", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    vendor = serializers.IntegerField(source="invoice.vendor_id", read_only=True)
    vendor_name = serializers.CharField(source="invoice.vendor.name", read_only=True)
    currency = serializers.CharField(source="invoice.currency", read_only=True)
    # A plain string: the engine's guess shares root_cause's choices, one enum documents both.
    suggested_root_cause = serializers.CharField(
        read_only=True, help_text="One of the root_cause values, or blank."
    )
    # Declared so the schema admits the blank an open exception has; a ModelSerializer drops
    # allow_blank from read-only fields.
    root_cause = serializers.ChoiceField(
        choices=InvoiceException.RootCause.choices, allow_blank=True, read_only=True
    )
    resolution = serializers.ChoiceField(
        choices=InvoiceException.Resolution.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = InvoiceException
        fields = [
            "id",
            "type",
            "type_display",
            "status",
            "status_display",
            "invoice",
            "invoice_number",
            "invoice_line",
            "vendor",
            "vendor_name",
            "owner",
            "owner_display",
            "owner_user",
            "detail",
            "currency",
            "amount_at_stake",
            "suggested_root_cause",
            "root_cause",
            "resolution",
            "resolution_note",
            "opened_at",
            "resolved_at",
            "resolved_by",
            "sla_due_at",
            "claimed_by",
            "claimed_until",
            "credit_requested_at",
            "credit_request_amount",
            "credit_note",
        ]
        read_only_fields = fields


class ExceptionCommentSerializer(serializers.ModelSerializer):
    """A comment on an exception and who it mentioned."""

    author_username = serializers.CharField(source="author.username", read_only=True)
    mentioned: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="username"
    )

    class Meta:
        model = ExceptionComment
        fields = ["id", "author", "author_username", "body", "created_at", "mentioned"]
        read_only_fields = fields


class BulkJobItemSerializer(serializers.ModelSerializer):
    """One exception in a bulk job and what happened to it."""

    class Meta:
        model = BulkJobItem
        fields = ["exception", "status", "message"]
        read_only_fields = fields


class BulkJobSerializer(serializers.ModelSerializer):
    """A bulk resolution and its progress; items are listed once it is done."""

    items = serializers.SerializerMethodField()

    class Meta:
        model = BulkJob
        fields = [
            "id",
            "resolution",
            "root_cause",
            "note",
            "max_amount",
            "status",
            "created_by",
            "created_at",
            "finished_at",
            "total",
            "succeeded",
            "failed",
            "items",
        ]
        read_only_fields = fields

    @extend_schema_field(BulkJobItemSerializer(many=True))
    def get_items(self, job: BulkJob) -> list[dict]:
        if job.status != BulkJob.Status.DONE:
            return []
        # many=True builds a ListSerializer, whose data is the list the stubs cannot see.
        return BulkJobItemSerializer(job.items.order_by("pk"), many=True).data  # type: ignore[return-value]


# --- input serializers --------------------------------------------------------------------


class ExceptionResolveSerializer(serializers.Serializer):
    """How to resolve an exception, and why it happened; the other fields depend on it.

    request_credit_note: amount (default: the amount at stake), note = message to the vendor;
    settle_credit_note: credit_note; correct_po: unit_price and/or quantity, note = reason;
    post_receipt: quantity, received_on; recode: po_line, gl_account, cost_center;
    reject_invoice: note = reason sent to the vendor.
    """

    resolution = serializers.ChoiceField(choices=action_choices())
    root_cause = serializers.ChoiceField(
        choices=InvoiceException.RootCause.choices,
        required=False,
        help_text="Defaults to what the resolution implies, then to the suggested root cause.",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)
    credit_note = serializers.PrimaryKeyRelatedField(
        queryset=Invoice.objects.filter(document_type=Invoice.DocumentType.CREDIT_NOTE),
        required=False,
    )
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=4, required=False)
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4, required=False)
    received_on = serializers.DateField(required=False)
    po_line = serializers.PrimaryKeyRelatedField(
        queryset=PurchaseOrderLine.objects.all(), required=False
    )
    gl_account = serializers.PrimaryKeyRelatedField(
        queryset=GLAccount.objects.all(), required=False
    )
    cost_center = serializers.PrimaryKeyRelatedField(
        queryset=CostCenter.objects.all(), required=False
    )


class ExceptionCommentCreateSerializer(serializers.Serializer):
    """A comment; @username notifies that colleague."""

    body = serializers.CharField(max_length=4000)


class BulkResolveSerializer(serializers.Serializer):
    """One resolution for many exceptions, run in the background."""

    exceptions = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    resolution = serializers.ChoiceField(choices=action_choices(bulk=True))
    root_cause = serializers.ChoiceField(choices=InvoiceException.RootCause.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    max_amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, required=False, allow_null=True, default=None
    )


# --- ViewSets -----------------------------------------------------------------------------


class InvoiceExceptionViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """The exception queue; buyers and requesters see only what is routed to them.

    Lists take the queue's filters (type, owner, vendor, age, amounts, due and discount dates,
    SLA, claim) and come newest first; claim-next takes the same filters and claims in queue
    order (what costs money first).
    """

    serializer_class = InvoiceExceptionSerializer
    filterset_class = InvoiceExceptionFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_EXCEPTIONS)]

    def get_queryset(self) -> QuerySet[InvoiceException]:
        if getattr(self, "swagger_fake_view", False):
            return InvoiceException.objects.none()
        # The same scope as the HTML queue: AP all, buyers and requesters what is routed to them.
        exceptions, _queue = exception_selectors.exception_scope(request_user(self.request))
        return exceptions.select_related("invoice__vendor")

    @extend_schema(request=ExceptionResolveSerializer, responses=InvoiceExceptionSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Resolve (or, for a credit note request, park) the exception; the invoice is re-matched."""
        data = dict(validated_input(ExceptionResolveSerializer, request))
        exception = exception_act(
            exception=self.get_object(),
            by=request_user(request),
            action=data.pop("resolution"),
            **data,
        )
        return self._respond(exception)

    @extend_schema(request=None, responses=InvoiceExceptionSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str | None = None) -> Response:
        """Take the exception for half an hour; nobody else can work it meanwhile."""
        return self._respond(exception_claim(exception=self.get_object(), by=request_user(request)))

    @extend_schema(request=None, responses=InvoiceExceptionSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        """Put a claimed exception back in the queue."""
        return self._respond(
            exception_release(exception=self.get_object(), by=request_user(request))
        )

    @extend_schema(request=None, responses={200: InvoiceExceptionSerializer, 204: None})
    @action(detail=False, methods=["post"], url_path="claim-next")
    def claim_next(self, request: Request) -> Response:
        """Claim the first free exception in queue order (204 when nothing is left)."""
        candidates = self.filterset_class(
            request.query_params, queryset=self.get_queryset(), request=request
        ).qs
        exception = exception_claim_next(by=request_user(request), candidates=candidates)
        if exception is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._respond(exception)

    @extend_schema(methods=["get"], request=None, responses=ExceptionCommentSerializer(many=True))
    @extend_schema(
        methods=["post"],
        request=ExceptionCommentCreateSerializer,
        responses={201: ExceptionCommentSerializer},
    )
    # Comments are few per exception and listed whole: no cursor, as the schema says.
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def comments(self, request: Request, pk: str | None = None) -> Response:
        """The exception's comments, oldest first; POST adds one (@username notifies)."""
        exception = self.get_object()
        if request.method == "POST":
            payload = validated_input(ExceptionCommentCreateSerializer, request)
            comment = exception_comment(
                exception=exception, by=request_user(request), body=payload["body"]
            )
            return Response(
                ExceptionCommentSerializer(comment).data, status=status.HTTP_201_CREATED
            )
        comments = exception.comments.select_related("author").prefetch_related("mentioned")
        return Response(ExceptionCommentSerializer(comments, many=True).data)

    @extend_schema(request=BulkResolveSerializer, responses={202: BulkJobSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk-resolve",
        permission_classes=[roles.api_permission(Perm.RESOLVE_IN_BULK)],
    )
    def bulk_resolve(self, request: Request) -> Response:
        """Apply one resolution to many exceptions as a background job (poll bulk-jobs/<id>)."""
        data = validated_input(BulkResolveSerializer, request)
        job = bulk_resolve_start(
            by=request_user(request),
            exception_ids=data["exceptions"],
            action=data["resolution"],
            root_cause=data["root_cause"],
            note=data["note"],
            max_amount=data["max_amount"],
        )
        job.refresh_from_db()
        return Response(BulkJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=BulkJobSerializer)
    @action(
        detail=False,
        methods=["get"],
        url_path=r"bulk-jobs/(?P<job_id>[0-9]+)",
        permission_classes=[roles.api_permission(Perm.RESOLVE_IN_BULK)],
    )
    def bulk_job(self, request: Request, job_id: str) -> Response:
        """A bulk job's progress; once done, each exception's outcome."""
        job = BulkJob.objects.filter(pk=job_id).first()
        if job is None or (
            job.created_by_id != request_user(request).pk
            and not roles.may(request_user(request), Perm.SUPERVISE_EXCEPTIONS)
        ):
            raise NotFound("No such bulk job.")
        return Response(BulkJobSerializer(job).data)
