"""Invoices API: read invoices, capture one as keyed, import e-invoice and CSV files.

Writes parse input with a plain serializer, call the service and answer with the document
re-read through the ViewSet's queryset, so a response looks like a GET.
"""

import datetime as dt

from django.db.models import Count, Prefetch, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.dates import implausible_date
from p2p.http import request_user
from p2p.money import ZERO
from p2p.roles import Perm
from payables.einvoice.csv_import import COMMA, POINT
from payables.filters import InvoiceFilter
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice, InvoiceLine
from payables.services import capture
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.uploads import import_limit, install_upload_limiter, refused_request, refused_uploads
from procurement.models import PurchaseOrder
from vendors.models import Vendor

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


# --- input serializers --------------------------------------------------------------------


class InvoiceLineInputSerializer(serializers.Serializer):
    """A billed line as keyed; the service checks quantities, prices and the PO line."""

    description = serializers.CharField(max_length=200)
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4)
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=4)
    po_line = serializers.IntegerField(required=False, allow_null=True, default=None)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2, default=ZERO)


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
    tax_amount = serializers.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
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


# --- ViewSets -----------------------------------------------------------------------------


class InvoiceViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Invoices: AP captures them, AP, buyers and finance read them."""

    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_INVOICES)]

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
            return [roles.api_permission(Perm.CAPTURE_INVOICE)()]
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
        permission_classes=[roles.api_permission(Perm.CAPTURE_INVOICE)],
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
            by=request_user(request),
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
        code: int
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
        invoice = invoice_capture(
            by=request_user(request),
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
                InvoiceLineInput(
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
