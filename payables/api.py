"""Payables API: invoices, the exception queue and payment runs.

Writes parse input with a plain serializer, call the service and answer with the document
re-read through the ViewSet's queryset, so a response looks like a GET.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import accounts, roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.dates import implausible_date
from payables import capture, payments, queue, resolutions, services
from payables.einvoice.csv_import import COMMA, POINT
from payables.filters import InvoiceExceptionFilter, InvoiceFilter, PaymentRunFilter
from payables.idempotency import idempotent
from payables.models.exceptions import BulkJob, BulkJobItem, ExceptionComment, InvoiceException
from payables.models.invoices import Invoice, InvoiceLine
from payables.models.payments import (
    BankConfirmation,
    Payment,
    PaymentExport,
    PaymentRun,
    PaymentRunExclusion,
)
from payables.resolutions import Action
from payables.uploads import import_limit, install_upload_limiter, refused_request, refused_uploads
from procurement.models import CostCenter, GLAccount, PurchaseOrder, PurchaseOrderLine
from vendors.models import Vendor

AP = (roles.AP_CLERK, roles.AP_MANAGER)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="A unique key per intended operation: a retry with the same key returns the "
    "first response instead of acting twice.",
)
EXCEPTION_READERS = (roles.AP_CLERK, roles.AP_MANAGER, roles.BUYER, roles.REQUESTER)


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
        source="purchase_order.number", read_only=True, allow_null=True, default=None
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
    mentioned = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")

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
        return BulkJobItemSerializer(job.items.order_by("pk"), many=True).data


class PaymentSerializer(serializers.ModelSerializer):
    """One invoice's (or credit note's, negative) line inside a run."""

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
            "discount_available",
            "net_amount",
            "basis",
            "note",
            "status",
            "status_display",
            "paid_on",
            "end_to_end_id",
            "void_reason",
            "voided_at",
        ]
        read_only_fields = fields


class PaymentExportSerializer(serializers.ModelSerializer):
    """A bank file written once for the run; its exact bytes are at `download`.

    A `superseded` file was replaced (`replaces` on the newer one) and is kept as it was.
    """

    download = serializers.SerializerMethodField()
    end_to_end_ids = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = PaymentExport
        fields = [
            "id",
            "format",
            "currency",
            "filename",
            "message_id",
            "payment_info_id",
            "end_to_end_ids",
            "debtor_iban",
            "status",
            "replaces",
            "replace_reason",
            "superseded_at",
            "sha256",
            "transfer_count",
            "control_sum",
            "created_at",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, export: PaymentExport) -> str:
        return f"/api/payment-runs/{export.run_id}/files/{export.pk}/"


class BankConfirmationSerializer(serializers.ModelSerializer):
    """What the bank confirmed about one transfer of the run, and its reference."""

    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    recorded_by_username = serializers.CharField(source="recorded_by.username", read_only=True)

    class Meta:
        model = BankConfirmation
        fields = [
            "id",
            "vendor",
            "vendor_name",
            "currency",
            "end_to_end_id",
            "outcome",
            "reference",
            "recorded_by",
            "recorded_by_username",
            "recorded_at",
        ]
        read_only_fields = fields


class PaymentRunExclusionSerializer(serializers.ModelSerializer):
    """An invoice the proposal left out, and why."""

    invoice_number = serializers.CharField(source="invoice.number", read_only=True)

    class Meta:
        model = PaymentRunExclusion
        fields = ["invoice", "invoice_number", "reason", "note"]
        read_only_fields = fields


class CurrencyTotalSerializer(serializers.Serializer):
    """A run's live payments in one currency."""

    currency = serializers.CharField()
    gross = serializers.DecimalField(max_digits=18, decimal_places=2)
    discount = serializers.DecimalField(max_digits=18, decimal_places=2)
    discount_missed = serializers.DecimalField(max_digits=18, decimal_places=2)
    net = serializers.DecimalField(max_digits=18, decimal_places=2)


class PaymentRunSerializer(serializers.ModelSerializer):
    """A payment run: totals per currency, its payments, what it left out and its bank files.

    `gross_amount`, `discount_amount`, `net_amount` and `currency` are filled for a run in one
    currency and empty for a run over several; `totals` always has one row per currency.
    """

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    prepared_by_username = serializers.CharField(source="prepared_by.username", read_only=True)
    approved_by_username = serializers.CharField(
        source="approved_by.username", read_only=True, allow_null=True, default=None
    )
    totals = serializers.SerializerMethodField()
    payments = PaymentSerializer(many=True, read_only=True)
    exclusions = PaymentRunExclusionSerializer(many=True, read_only=True)
    exports = PaymentExportSerializer(many=True, read_only=True)
    bank_confirmations = BankConfirmationSerializer(many=True, read_only=True)

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
            "totals",
            "prepared_by",
            "prepared_by_username",
            "approved_by",
            "approved_by_username",
            "created_at",
            "approved_at",
            "sent_at",
            "paid_at",
            "payments",
            "exclusions",
            "exports",
            "bank_confirmations",
        ]
        read_only_fields = fields

    @extend_schema_field(CurrencyTotalSerializer(many=True))
    def get_totals(self, run: PaymentRun) -> list[dict]:
        # From the prefetched payments: no query per run in a list.
        totals: dict[str, dict] = {}
        for payment in run.payments.all():
            if payment.status == Payment.Status.VOID:
                continue
            row = totals.setdefault(
                payment.currency,
                {
                    "currency": payment.currency,
                    "gross": Decimal("0"),
                    "discount": Decimal("0"),
                    "discount_missed": Decimal("0"),
                    "net": Decimal("0"),
                },
            )
            row["gross"] += payment.gross_amount
            row["discount"] += payment.discount_taken
            row["discount_missed"] += payment.discount_available - payment.discount_taken
            row["net"] += payment.net_amount
        return CurrencyTotalSerializer([totals[c] for c in sorted(totals)], many=True).data


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

    def validate_invoice_date(self, value: dt.date) -> dt.date:
        if problem := implausible_date(value):
            raise serializers.ValidationError(problem)
        return value


class InvoiceImportRequestSerializer(serializers.Serializer):
    """E-invoice (UBL, CII, Factur-X PDF) and CSV files, each under the field name `file`."""

    file = serializers.ListField(child=serializers.FileField(), allow_empty=False)


class InvoiceImportResultSerializer(serializers.Serializer):
    """One invoice of an uploaded file, with the keys of `import_invoices --dry-run --json`."""

    file = serializers.CharField()
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_null=True, help_text="Why it was rejected, when not ok.")
    document_type = serializers.CharField(allow_null=True, help_text="invoice or credit_note")
    number = serializers.CharField(allow_null=True)
    issue_date = serializers.DateField(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    seller_name = serializers.CharField(allow_null=True)
    seller_tax_id = serializers.CharField(allow_null=True)
    order_reference = serializers.CharField(allow_null=True)
    line_count = serializers.IntegerField(allow_null=True)
    line_net_total = serializers.CharField(allow_null=True, help_text="In the document currency")
    tax_total = serializers.CharField(allow_null=True)
    payable_amount = serializers.CharField(allow_null=True)
    invoice_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="The invoice created (not in a dry run)."
    )


class InvoiceImportResponseSerializer(serializers.Serializer):
    """What an upload did: the invoices created and one result per invoice found."""

    dry_run = serializers.BooleanField()
    invoice_ids = serializers.ListField(child=serializers.IntegerField())
    results = InvoiceImportResultSerializer(many=True)


class ExceptionResolveSerializer(serializers.Serializer):
    """How to resolve an exception, and why it happened; the other fields depend on it.

    request_credit_note: amount (default: the amount at stake), note = message to the vendor;
    settle_credit_note: credit_note; correct_po: unit_price and/or quantity, note = reason;
    post_receipt: quantity, received_on; recode: po_line, gl_account, cost_center;
    reject_invoice: note = reason sent to the vendor.
    """

    resolution = serializers.ChoiceField(choices=Action.choices)
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
    resolution = serializers.ChoiceField(
        choices=[(action.value, action.label) for action in resolutions.BULK_ACTIONS]
    )
    root_cause = serializers.ChoiceField(choices=InvoiceException.RootCause.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    max_amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, required=False, allow_null=True, default=None
    )


class PaymentRunApproveSerializer(serializers.Serializer):
    password = serializers.CharField(
        write_only=True,
        style={"input_type": "password"},
        help_text="The approver's own password, asked again before money is released.",
    )


class PaymentRunCreateSerializer(serializers.Serializer):
    """What to propose: pay date, horizon and currency (blank: every currency)."""

    pay_date = serializers.DateField()
    horizon_date = serializers.DateField()
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")


class PaymentRunPaidSerializer(serializers.Serializer):
    """The day the bank executed the run; the pay date when left out."""

    paid_on = serializers.DateField(required=False, allow_null=True, default=None)


class PaymentRunCancelSerializer(serializers.Serializer):
    """Why the run is dropped."""

    note = serializers.CharField(required=False, allow_blank=True, default="")


class PaymentRunInvoiceSerializer(serializers.Serializer):
    """An invoice to add to or take out of a proposed run, and why."""

    invoice = serializers.PrimaryKeyRelatedField(queryset=Invoice.objects.select_related("vendor"))
    reason = serializers.CharField(max_length=300)


class PaymentVoidSerializer(serializers.Serializer):
    """The payment of the run to void, once the bank confirmed its transfer unpaid, and why."""

    payment = serializers.IntegerField()
    reason = serializers.CharField(max_length=300)


class BankConfirmationInputSerializer(serializers.Serializer):
    """The transfer (vendor and currency), what the bank confirmed and the bank's reference."""

    vendor = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all())
    currency = serializers.CharField(min_length=3, max_length=3)
    outcome = serializers.ChoiceField(choices=BankConfirmation.Outcome.choices)
    reference = serializers.CharField(max_length=140)


class BankFileReplaceSerializer(serializers.Serializer):
    """Why the bank file is issued again."""

    reason = serializers.CharField(max_length=300)


# --- ViewSets -----------------------------------------------------------------------------


class InvoiceViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
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

    def initialize_request(self, request, *args, **kwargs):
        drf_request = super().initialize_request(request, *args, **kwargs)
        if self.action == "import_files":
            # Before authentication reads the body (the CSRF check does), so that a file is
            # dropped the moment it passes its size limit instead of being read whole.
            install_upload_limiter(request, import_limit)
        return drf_request

    @extend_schema(
        request={"multipart/form-data": InvoiceImportRequestSerializer},
        parameters=[
            OpenApiParameter(
                "dry_run", bool, description="1: read and check everything, write nothing."
            ),
            OpenApiParameter(
                "valid_only",
                bool,
                description="1: import a CSV's valid invoices and report the rejected ones.",
            ),
            OpenApiParameter(
                "decimal_mark",
                str,
                enum=[POINT, COMMA],
                description="The CSVs' decimal mark (point: 1,234.50; comma: 1.234,50); "
                "without it, read from each file.",
            ),
        ],
        responses={
            200: InvoiceImportResponseSerializer,
            201: InvoiceImportResponseSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Nothing imported: an import response, or `detail` when no file came.",
            ),
            413: OpenApiResponse(
                OpenApiTypes.OBJECT, description="`detail`: the upload is over the size limit."
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser],
        permission_classes=[roles.api_roles(*AP)],
    )
    def import_files(self, request: Request) -> Response:
        """Import e-invoice and CSV files, the same importer as `import_invoices`.

        201 when every invoice was imported, 400 when none was (a dry run answers 200), 200
        when some were; `results` says why for each rejected one.
        """
        received = request.FILES.getlist("file")  # reads the body, through the size limiter
        refused_whole = refused_request(request)
        if refused_whole:
            return Response(
                {"detail": refused_whole}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        uploads = capture.uploads_from(received, refused_uploads(request))
        if not uploads:
            return Response(
                {"detail": "Send the files as multipart form data, each under the name 'file'."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        dry_run = request.query_params.get("dry_run", "") in ("1", "true", "yes")
        valid_only = request.query_params.get("valid_only", "") in ("1", "true", "yes")
        decimal_mark = request.query_params.get("decimal_mark", "")
        if decimal_mark not in ("", POINT, COMMA):
            return Response(
                {"decimal_mark": [f"Use {POINT} (1,234.50) or {COMMA} (1.234,50)."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        results = capture.import_uploads(
            uploads,
            by=request.user,
            dry_run=dry_run,
            valid_only=valid_only,
            decimal_mark=decimal_mark,
        )
        rows = [
            result.as_json() if dry_run else {**result.as_json(), "invoice_id": result.invoice_id}
            for result in results
        ]
        created = [row["invoice_id"] for row in rows if row.get("invoice_id")]
        accepted = sum(1 for row in rows if row["ok"])
        if dry_run or accepted not in (0, len(rows)):
            code = status.HTTP_200_OK
        elif accepted:
            code = status.HTTP_201_CREATED
        else:
            code = status.HTTP_400_BAD_REQUEST
        return Response({"dry_run": dry_run, "invoice_ids": created, "results": rows}, status=code)

    @extend_schema(request=InvoiceCreateSerializer, responses={201: InvoiceSerializer})
    def create(self, request: Request) -> Response:
        """Capture an invoice sent by an integration; matching runs once it is committed."""
        data = validated_input(InvoiceCreateSerializer, request)
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
        return self._respond(invoice, status.HTTP_201_CREATED)


class InvoiceExceptionViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """The exception queue; buyers and requesters see only what is routed to them.

    Lists take the queue's filters (type, owner, vendor, age, amounts, due and discount dates,
    SLA, claim) and come newest first; claim-next takes the same filters and claims in queue
    order (what costs money first).
    """

    serializer_class = InvoiceExceptionSerializer
    filterset_class = InvoiceExceptionFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_roles(*EXCEPTION_READERS)]

    def get_queryset(self) -> QuerySet[InvoiceException]:
        if getattr(self, "swagger_fake_view", False):
            return InvoiceException.objects.none()
        # The same scope as the HTML queue: AP all, buyers and requesters what is routed to them.
        exceptions, _queue = queue.exception_scope(self.request.user)
        return exceptions.select_related("invoice__vendor")

    @extend_schema(request=ExceptionResolveSerializer, responses=InvoiceExceptionSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Resolve (or, for a credit note request, park) the exception; the invoice is re-matched."""
        data = dict(validated_input(ExceptionResolveSerializer, request))
        exception = resolutions.exception_act(
            exception=self.get_object(), by=request.user, action=data.pop("resolution"), **data
        )
        return self._respond(exception)

    @extend_schema(request=None, responses=InvoiceExceptionSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str | None = None) -> Response:
        """Take the exception for half an hour; nobody else can work it meanwhile."""
        return self._respond(
            resolutions.exception_claim(exception=self.get_object(), by=request.user)
        )

    @extend_schema(request=None, responses=InvoiceExceptionSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        """Put a claimed exception back in the queue."""
        return self._respond(
            resolutions.exception_release(exception=self.get_object(), by=request.user)
        )

    @extend_schema(request=None, responses={200: InvoiceExceptionSerializer, 204: None})
    @action(detail=False, methods=["post"], url_path="claim-next")
    def claim_next(self, request: Request) -> Response:
        """Claim the first free exception in queue order (204 when nothing is left)."""
        candidates = self.filterset_class(
            request.query_params, queryset=self.get_queryset(), request=request
        ).qs
        exception = resolutions.exception_claim_next(by=request.user, candidates=candidates)
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
            comment = resolutions.exception_comment(
                exception=exception, by=request.user, body=payload["body"]
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
        permission_classes=[roles.api_roles(*AP)],
    )
    def bulk_resolve(self, request: Request) -> Response:
        """Apply one resolution to many exceptions as a background job (poll bulk-jobs/<id>)."""
        data = validated_input(BulkResolveSerializer, request)
        job = resolutions.bulk_resolve_start(
            by=request.user,
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
        permission_classes=[roles.api_roles(*AP)],
    )
    def bulk_job(self, request: Request, job_id: str) -> Response:
        """A bulk job's progress; once done, each exception's outcome."""
        job = BulkJob.objects.filter(pk=job_id).first()
        if job is None or (
            job.created_by_id != request.user.pk
            and not roles.has_role(request.user, roles.AP_MANAGER)
        ):
            raise NotFound("No such bulk job.")
        return Response(BulkJobSerializer(job).data)


class PaymentRunViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Payment runs: AP proposes, someone else approves, AP sends the bank files and marks them paid.

    Propose, approve, export, mark-paid and void accept an `Idempotency-Key` header: a retry
    with the same key and body returns the first response instead of acting twice.
    """

    filterset_class = PaymentRunFilter
    ordering_fields = ["id"]
    serializer_class = PaymentRunSerializer
    permission_classes = [roles.api_roles(*roles.PAYMENT_READERS)]

    def get_queryset(self) -> QuerySet[PaymentRun]:
        return PaymentRun.objects.select_related("prepared_by", "approved_by").prefetch_related(
            Prefetch("payments", queryset=Payment.objects.select_related("invoice", "vendor")),
            Prefetch("exclusions", queryset=PaymentRunExclusion.objects.select_related("invoice")),
            Prefetch("exports", queryset=PaymentExport.objects.order_by("-created_at", "id")),
            Prefetch(
                "bank_confirmations",
                queryset=BankConfirmation.objects.select_related("vendor", "recorded_by"),
            ),
        )

    def get_permissions(self):
        if self.action in ("create", "add_invoice", "remove_invoice"):
            return [roles.api_roles(*AP)()]
        return super().get_permissions()

    @extend_schema(
        request=PaymentRunCreateSerializer,
        responses={201: PaymentRunSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        """Propose a run of approved invoices due by the horizon or worth paying early (AP)."""
        payload = validated_input(PaymentRunCreateSerializer, request)
        run = payments.payment_run_propose(by=request.user, **payload)
        return self._respond(run, status.HTTP_201_CREATED)

    @extend_schema(
        request=PaymentRunApproveSerializer,
        responses=PaymentRunSerializer,
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[roles.api_roles(roles.AP_MANAGER, roles.FINANCE_LEADER)],
    )
    @idempotent
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve a proposed run; never by the person who prepared or changed it.

        The approver's password is asked again, as on the page: a token or a browser session
        alone does not release money.
        """
        password = validated_input(PaymentRunApproveSerializer, request)["password"]
        if not accounts.password_matches(
            request=request._request, user=request.user, password=password
        ):
            raise PermissionDenied("The password is not right; the run was not approved.")
        run = payments.payment_run_approve(run=self.get_object(), by=request.user)
        return self._respond(run)

    @extend_schema(request=None, responses=PaymentRunSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def export(self, request: Request, pk: str | None = None) -> Response:
        """Write the schema-checked pain.001 files (one per currency) and the CSV; the run is sent.

        Written once: a sent run answers 409; a lost file is replaced through `files/{id}/replace`.
        """
        run = self.get_object()
        payments.payment_run_export(run=run, by=request.user)
        return self._respond(run)

    @extend_schema(
        request=None,
        responses={(200, "application/xml"): OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("export_id", int, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["get"], url_path=r"files/(?P<export_id>\d+)")
    def files(self, request: Request, pk: str | None = None, export_id: str = "") -> HttpResponse:
        """A bank file exactly as written and checked (XML or CSV)."""
        run = self.get_object()
        export = run.exports.filter(pk=int(export_id)).first()
        if export is None:
            raise NotFound("No such file for this run.")
        content_type = (
            "application/xml" if export.format == PaymentExport.Format.PAIN001 else "text/csv"
        )
        response = HttpResponse(export.content, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

    @extend_schema(
        request=PaymentRunPaidSerializer,
        responses=PaymentRunSerializer,
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"], url_path="mark-paid")
    @idempotent
    def mark_paid(self, request: Request, pk: str | None = None) -> Response:
        """The bank executed the run: its payments and invoices become paid."""
        payload = validated_input(PaymentRunPaidSerializer, request)
        run = payments.payment_run_mark_paid(
            run=self.get_object(), by=request.user, paid_on=payload["paid_on"]
        )
        return self._respond(run)

    @extend_schema(
        request=BankFileReplaceSerializer,
        responses=PaymentRunSerializer,
        parameters=[OpenApiParameter("export_id", int, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path=r"files/(?P<export_id>\d+)/replace")
    def replace_file(
        self, request: Request, pk: str | None = None, export_id: str = ""
    ) -> Response:
        """Issue a bank file again with the same MsgId, PmtInfId and EndToEndIds (AP manager)."""
        payload = validated_input(BankFileReplaceSerializer, request)
        run = self.get_object()
        export = run.exports.filter(pk=int(export_id)).first()
        if export is None:
            raise NotFound("No such file for this run.")
        payments.bank_file_replace(export=export, by=request.user, reason=payload["reason"])
        return self._respond(run)

    @extend_schema(request=BankConfirmationInputSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"], url_path="bank-confirmation")
    def bank_confirmation(self, request: Request, pk: str | None = None) -> Response:
        """Record that the bank confirmed a transfer was not executed, or returned, with its reference."""
        payload = validated_input(BankConfirmationInputSerializer, request)
        run = self.get_object()
        payments.transfer_bank_confirm(run=run, by=request.user, **payload)
        return self._respond(run)

    @extend_schema(
        request=PaymentVoidSerializer, responses=PaymentRunSerializer, parameters=[IDEMPOTENCY_KEY]
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def void(self, request: Request, pk: str | None = None) -> Response:
        """Void one payment the bank confirmed unpaid; its invoice is payable again (AP manager)."""
        payload = validated_input(PaymentVoidSerializer, request)
        run = self.get_object()
        payment = run.payments.filter(pk=payload["payment"]).first()
        if payment is None:
            raise NotFound("No such payment in this run.")
        payments.payment_void(payment=payment, by=request.user, reason=payload["reason"])
        return self._respond(run)

    @extend_schema(request=PaymentRunInvoiceSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"], url_path="add-invoice")
    def add_invoice(self, request: Request, pk: str | None = None) -> Response:
        """Add an approved invoice to a proposed run, with a reason (AP)."""
        payload = validated_input(PaymentRunInvoiceSerializer, request)
        run = self.get_object()
        payments.payment_run_add_invoice(run=run, by=request.user, **payload)
        return self._respond(run)

    @extend_schema(request=PaymentRunInvoiceSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"], url_path="remove-invoice")
    def remove_invoice(self, request: Request, pk: str | None = None) -> Response:
        """Take an invoice out of a proposed run, with a reason (AP)."""
        payload = validated_input(PaymentRunInvoiceSerializer, request)
        run = self.get_object()
        payments.payment_run_remove_invoice(run=run, by=request.user, **payload)
        return self._respond(run)

    @extend_schema(request=PaymentRunCancelSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Drop a run not yet sent to the bank; its invoices become payable again."""
        payload = validated_input(PaymentRunCancelSerializer, request)
        run = payments.payment_run_cancel(
            run=self.get_object(), by=request.user, note=payload["note"]
        )
        return self._respond(run)
