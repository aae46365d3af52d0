"""Payment runs API: propose, change, approve, send to the bank, confirm, pay, void.

Writes parse input with a plain serializer, call the service and answer with the document
re-read through the ViewSet's queryset, so a response looks like a GET.
"""

from decimal import Decimal

from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import accounts, roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.http import request_user
from p2p.roles import Perm
from payables.filters import PaymentRunFilter
from payables.idempotency import idempotent
from payables.models.invoices import Invoice
from payables.models.payments import (
    BankConfirmation,
    Payment,
    PaymentExport,
    PaymentRun,
    PaymentRunExclusion,
)
from payables.services import payments, settlement
from vendors.models import Vendor

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="A unique key per intended operation: a retry with the same key returns the "
    "first response instead of acting twice.",
)


# --- output serializers -------------------------------------------------------------------


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
        # many=True builds a ListSerializer, whose data is the list the stubs cannot see.
        return CurrencyTotalSerializer([totals[c] for c in sorted(totals)], many=True).data  # type: ignore[return-value]


# --- input serializers --------------------------------------------------------------------


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


class PaymentRunViewSet(FreshResponseMixin, viewsets.ReadOnlyModelViewSet):
    """Payment runs: AP proposes, someone else approves, AP sends the bank files and marks them paid.

    Propose, approve, export, mark-paid and void accept an `Idempotency-Key` header: a retry
    with the same key and body returns the first response instead of acting twice.
    """

    filterset_class = PaymentRunFilter
    ordering_fields = ["id"]
    serializer_class = PaymentRunSerializer
    permission_classes = [roles.api_permission(Perm.READ_PAYMENTS)]

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
            return [roles.api_permission(Perm.PROPOSE_RUN)()]
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
        run = payments.payment_run_propose(by=request_user(request), **payload)
        return self._respond(run, status.HTTP_201_CREATED)

    @extend_schema(
        request=PaymentRunApproveSerializer,
        responses=PaymentRunSerializer,
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[roles.api_permission(Perm.APPROVE_RUN)],
    )
    @idempotent
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve a proposed run; never by the person who prepared or changed it.

        The approver's password is asked again, as on the page: a token or a browser session
        alone does not release money.
        """
        password = validated_input(PaymentRunApproveSerializer, request)["password"]
        if not accounts.password_matches(
            request=request._request, user=request_user(request), password=password
        ):
            raise PermissionDenied("The password is not right; the run was not approved.")
        run = payments.payment_run_approve(run=self.get_object(), by=request_user(request))
        return self._respond(run)

    @extend_schema(request=None, responses=PaymentRunSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def export(self, request: Request, pk: str | None = None) -> Response:
        """Write the schema-checked pain.001 files (one per currency) and the CSV; the run is sent.

        Written once: a sent run answers 409; a lost file is replaced through `files/{id}/replace`.
        """
        run = self.get_object()
        settlement.payment_run_export(run=run, by=request_user(request))
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
        run = settlement.payment_run_mark_paid(
            run=self.get_object(), by=request_user(request), paid_on=payload["paid_on"]
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
        settlement.bank_file_replace(
            export=export, by=request_user(request), reason=payload["reason"]
        )
        return self._respond(run)

    @extend_schema(request=BankConfirmationInputSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"], url_path="bank-confirmation")
    def bank_confirmation(self, request: Request, pk: str | None = None) -> Response:
        """Record that the bank confirmed a transfer was not executed, or returned, with its reference."""
        payload = validated_input(BankConfirmationInputSerializer, request)
        run = self.get_object()
        settlement.transfer_bank_confirm(run=run, by=request_user(request), **payload)
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
        settlement.payment_void(payment=payment, by=request_user(request), reason=payload["reason"])
        return self._respond(run)

    @extend_schema(request=PaymentRunInvoiceSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"], url_path="add-invoice")
    def add_invoice(self, request: Request, pk: str | None = None) -> Response:
        """Add an approved invoice to a proposed run, with a reason (AP)."""
        payload = validated_input(PaymentRunInvoiceSerializer, request)
        run = self.get_object()
        payments.payment_run_add_invoice(run=run, by=request_user(request), **payload)
        return self._respond(run)

    @extend_schema(request=PaymentRunInvoiceSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"], url_path="remove-invoice")
    def remove_invoice(self, request: Request, pk: str | None = None) -> Response:
        """Take an invoice out of a proposed run, with a reason (AP)."""
        payload = validated_input(PaymentRunInvoiceSerializer, request)
        run = self.get_object()
        payments.payment_run_remove_invoice(run=run, by=request_user(request), **payload)
        return self._respond(run)

    @extend_schema(request=PaymentRunCancelSerializer, responses=PaymentRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Drop a run not yet sent to the bank; its invoices become payable again."""
        payload = validated_input(PaymentRunCancelSerializer, request)
        run = payments.payment_run_cancel(
            run=self.get_object(), by=request_user(request), note=payload["note"]
        )
        return self._respond(run)
