"""Payables API: invoices, the exception queue and payment runs.

Writes parse input with a plain serializer, call the service and answer with the document
re-read through the ViewSet's queryset, so a response looks like a GET.
"""

from django.db.models import Count, Prefetch, Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from payables import selectors, services
from payables.filters import InvoiceExceptionFilter, InvoiceFilter, PaymentRunFilter
from payables.models import Invoice, InvoiceException, InvoiceLine, Payment, PaymentRun
from procurement.models import PurchaseOrder
from vendors.models import Vendor

AP = (roles.AP_CLERK, roles.AP_MANAGER)
EXCEPTION_READERS = (roles.AP_CLERK, roles.AP_MANAGER, roles.BUYER, roles.REQUESTER)
# Resolutions a person chooses; the others are recorded by the engine itself.
MANUAL_RESOLUTIONS = [
    (choice.value, choice.label)
    for choice in (
        InvoiceException.Resolution.ACCEPT_VARIANCE,
        InvoiceException.Resolution.REJECT_INVOICE,
        InvoiceException.Resolution.MARK_DUPLICATE,
    )
]


# --- output serializers -------------------------------------------------------------------


class InvoiceLineSerializer(serializers.ModelSerializer):
    """One billed line and the verdict of its last match."""

    match_result = serializers.SerializerMethodField()

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "line_no",
            "po_line",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "tax_rate",
            "match_result",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_match_result(self, line: InvoiceLine) -> str | None:
        # A line not yet matched has no row; select_related cached that absence.
        result = getattr(line, "match_result", None)
        return result.result if result is not None else None


class InvoiceSerializer(serializers.ModelSerializer):
    """A vendor invoice or credit note with its lines."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    document_type_display = serializers.CharField(
        source="get_document_type_display", read_only=True
    )
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    purchase_order_number = serializers.CharField(
        source="purchase_order.number", read_only=True, default=None
    )
    open_exception_count = serializers.IntegerField(read_only=True)
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "status",
            "status_display",
            "document_type",
            "document_type_display",
            "source",
            "vendor",
            "vendor_name",
            "purchase_order",
            "purchase_order_number",
            "po_reference",
            "invoice_date",
            "due_date",
            "discount_date",
            "discount_amount",
            "currency",
            "net_amount",
            "tax_amount",
            "total_amount",
            "captured_by",
            "captured_at",
            "match_attempts",
            "first_pass",
            "touchless",
            "approved_at",
            "paid_at",
            "open_exception_count",
            "lines",
        ]
        read_only_fields = fields


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
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    """One invoice's payment inside a run."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "invoice",
            "invoice_number",
            "vendor",
            "vendor_name",
            "currency",
            "gross_amount",
            "discount_taken",
            "net_amount",
            "status",
            "status_display",
            "paid_on",
        ]
        read_only_fields = fields


class PaymentRunSerializer(serializers.ModelSerializer):
    """A payment run with its totals and payments."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    prepared_by_username = serializers.CharField(source="prepared_by.username", read_only=True)
    approved_by_username = serializers.CharField(
        source="approved_by.username", read_only=True, default=None
    )
    payments = PaymentSerializer(many=True, read_only=True)

    class Meta:
        model = PaymentRun
        fields = [
            "id",
            "number",
            "status",
            "status_display",
            "pay_date",
            "horizon_date",
            "currency",
            "gross_amount",
            "discount_amount",
            "net_amount",
            "prepared_by",
            "prepared_by_username",
            "approved_by",
            "approved_by_username",
            "created_at",
            "approved_at",
            "paid_at",
            "payments",
        ]
        read_only_fields = fields


# --- input serializers --------------------------------------------------------------------


class InvoiceLineInputSerializer(serializers.Serializer):
    """A billed line as keyed; the service checks quantities, prices and the PO line."""

    description = serializers.CharField(max_length=200)
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4)
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=4)
    po_line = serializers.IntegerField(required=False, allow_null=True, default=None)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2, default=0)


class InvoiceCreateSerializer(serializers.Serializer):
    """An invoice header with its lines, as an integration sends it."""

    vendor = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all())
    number = serializers.CharField(max_length=60)
    invoice_date = serializers.DateField()
    currency = serializers.CharField(min_length=3, max_length=3)
    purchase_order = serializers.PrimaryKeyRelatedField(
        queryset=PurchaseOrder.objects.all(), required=False, allow_null=True, default=None
    )
    po_reference = serializers.CharField(
        max_length=60, required=False, allow_blank=True, default=""
    )
    document_type = serializers.ChoiceField(
        choices=Invoice.DocumentType.choices, default=Invoice.DocumentType.INVOICE
    )
    tax_amount = serializers.DecimalField(max_digits=18, decimal_places=2, default=0)
    total_amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, required=False, allow_null=True, default=None
    )
    lines = InvoiceLineInputSerializer(many=True, allow_empty=False)


class ExceptionResolveSerializer(serializers.Serializer):
    """How an exception was resolved and why it happened."""

    resolution = serializers.ChoiceField(choices=MANUAL_RESOLUTIONS)
    root_cause = serializers.ChoiceField(choices=InvoiceException.RootCause.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class PaymentRunCreateSerializer(serializers.Serializer):
    """What to propose: pay date, horizon and currency."""

    pay_date = serializers.DateField()
    horizon_date = serializers.DateField()
    currency = serializers.CharField(min_length=3, max_length=3, default="EUR")


class PaymentRunPaidSerializer(serializers.Serializer):
    """The day the bank executed the run; the pay date when left out."""

    paid_on = serializers.DateField(required=False, allow_null=True, default=None)


class PaymentRunCancelSerializer(serializers.Serializer):
    """Why the run is dropped."""

    note = serializers.CharField(required=False, allow_blank=True, default="")


# --- ViewSets -----------------------------------------------------------------------------


class InvoiceViewSet(viewsets.ReadOnlyModelViewSet):
    """Invoices: AP captures them, AP, buyers and finance read them."""

    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_roles(*roles.INVOICE_READERS)]

    def get_queryset(self) -> QuerySet[Invoice]:
        return (
            Invoice.objects.select_related("vendor", "purchase_order")
            .annotate(
                open_exception_count=Count(
                    "exceptions", filter=Q(exceptions__status=InvoiceException.Status.OPEN)
                )
            )
            .prefetch_related(
                Prefetch("lines", queryset=InvoiceLine.objects.select_related("match_result"))
            )
        )

    def get_permissions(self):
        if self.action == "create":
            return [roles.api_roles(*AP)()]
        return super().get_permissions()

    @extend_schema(request=InvoiceCreateSerializer, responses={201: InvoiceSerializer})
    def create(self, request: Request) -> Response:
        """Capture an invoice sent by an integration; matching runs once it is committed."""
        payload = InvoiceCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        invoice = services.invoice_capture(
            by=request.user,
            vendor=data["vendor"],
            number=data["number"],
            invoice_date=data["invoice_date"],
            currency=data["currency"],
            purchase_order=data["purchase_order"],
            po_reference=data["po_reference"],
            document_type=data["document_type"],
            tax_amount=data["tax_amount"],
            total_amount=data["total_amount"],
            source=Invoice.Source.API,
            lines=[
                services.InvoiceLineInput(
                    description=line["description"],
                    quantity=line["quantity"],
                    unit_price=line["unit_price"],
                    po_line_id=line["po_line"],
                    tax_rate=line["tax_rate"],
                )
                for line in data["lines"]
            ],
        )
        fresh = self.get_queryset().get(pk=invoice.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)


class InvoiceExceptionViewSet(viewsets.ReadOnlyModelViewSet):
    """The exception queue; buyers and requesters see only what is routed to them."""

    serializer_class = InvoiceExceptionSerializer
    filterset_class = InvoiceExceptionFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_roles(*EXCEPTION_READERS)]

    def get_queryset(self) -> QuerySet[InvoiceException]:
        if getattr(self, "swagger_fake_view", False):
            return InvoiceException.objects.none()
        # The same scope as the HTML queue: AP all, buyers and requesters what is routed to them.
        exceptions, _queue = selectors.exception_scope(self.request.user)
        return exceptions.select_related("invoice__vendor")

    @extend_schema(request=ExceptionResolveSerializer, responses=InvoiceExceptionSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Close the exception with a resolution and root cause; the invoice is re-matched."""
        payload = ExceptionResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        exception = services.exception_resolve(
            exception=self.get_object(), by=request.user, **payload.validated_data
        )
        fresh = self.get_queryset().get(pk=exception.pk)
        return Response(self.get_serializer(fresh).data)


class PaymentRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Payment runs: AP proposes, someone else approves, AP marks them paid."""

    filterset_class = PaymentRunFilter
    ordering_fields = ["id"]
    serializer_class = PaymentRunSerializer
    permission_classes = [roles.api_roles(*roles.PAYMENT_READERS)]

    def get_queryset(self) -> QuerySet[PaymentRun]:
        return PaymentRun.objects.select_related("prepared_by", "approved_by").prefetch_related(
            Prefetch("payments", queryset=Payment.objects.select_related("invoice", "vendor"))
        )

    def get_permissions(self):
        if self.action == "create":
            return [roles.api_roles(*AP)()]
        return super().get_permissions()

    def _respond(self, run: PaymentRun, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=run.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(request=PaymentRunCreateSerializer, responses={201: PaymentRunSerializer})
    def create(self, request: Request) -> Response:
        """Propose a run of approved invoices due by the horizon (AP)."""
        payload = PaymentRunCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = services.payment_run_propose(by=request.user, **payload.validated_data)
        return self._respond(run, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PaymentRunSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[roles.api_roles(roles.AP_MANAGER, roles.FINANCE_LEADER)],
    )
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve a proposed run; never by the person who prepared it."""
        run = services.payment_run_approve(run=self.get_object(), by=request.user)
        return self._respond(run)

    @extend_schema(request=PaymentRunPaidSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"], url_path="mark-paid")
    def mark_paid(self, request: Request, pk: str | None = None) -> Response:
        """The bank executed the run: its payments and invoices become paid."""
        payload = PaymentRunPaidSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = services.payment_run_mark_paid(
            run=self.get_object(), by=request.user, paid_on=payload.validated_data["paid_on"]
        )
        return self._respond(run)

    @extend_schema(request=PaymentRunCancelSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Drop a run that was not paid; its invoices become payable again."""
        payload = PaymentRunCancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = services.payment_run_cancel(
            run=self.get_object(), by=request.user, note=payload.validated_data["note"]
        )
        return self._respond(run)
