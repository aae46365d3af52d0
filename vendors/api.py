"""Vendors API: vendors, bank-change requests (masked), payment terms and contracts.

Every write parses its input with a plain serializer, calls the service and answers with
the object re-read through the ViewSet's queryset. Full IBANs are accepted on input but
never returned: responses carry the masked form only.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from p2p import roles
from p2p.api import FreshResponseMixin, validated_input
from p2p.http import AuthenticatedRequest, request_user
from p2p.roles import Perm
from vendors import selectors, services, validation
from vendors.filters import BankAccountFilter, ContractFilter, VendorFilter
from vendors.models import BankAccount, Contract, ContractLine, PaymentTerms, Vendor

# --- payment terms ----------------------------------------------------------------------------


class PaymentTermsSerializer(serializers.ModelSerializer):
    """Payment terms as a vendor or PO refers to them."""

    class Meta:
        model = PaymentTerms
        fields = [
            "id",
            "code",
            "name",
            "net_days",
            "discount_percent",
            "discount_days",
            "end_of_month",
        ]


class TermsScheduleInputSerializer(serializers.Serializer):
    invoice_date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    currency = serializers.CharField(max_length=3, default="EUR")


class TermsScheduleSerializer(serializers.Serializer):
    """Due date, discount deadline and discount for one invoice under the terms."""

    due_date = serializers.DateField()
    discount_date = serializers.DateField(allow_null=True)
    discount_amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    amount_if_discounted = serializers.DecimalField(max_digits=18, decimal_places=2)


class PaymentTermsViewSet(viewsets.ReadOnlyModelViewSet):
    """The payment terms vendors and purchase orders may carry."""

    queryset = PaymentTerms.objects.all()
    serializer_class = PaymentTermsSerializer
    ordering_fields = ["id"]
    filterset_fields = ["code"]
    permission_classes = [roles.api_permission(Perm.USE_APP)]

    @extend_schema(parameters=[TermsScheduleInputSerializer], responses=TermsScheduleSerializer)
    @action(detail=True, methods=["get"])
    def schedule(self, request: Request, pk: str | None = None) -> Response:
        """When an invoice of this amount and date falls due, and the discount for paying early."""
        payload = TermsScheduleInputSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        schedule = selectors.terms_schedule(
            self.get_object(),
            invoice_date=data["invoice_date"],
            amount=data["amount"],
            currency=validation.clean_currency(data["currency"]),
        )
        return Response(TermsScheduleSerializer(schedule).data)


# --- vendors ----------------------------------------------------------------------------------


class VendorSerializer(serializers.ModelSerializer):
    """A vendor with its status, default terms and whether payments to it are on hold."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    payment_terms_code = serializers.CharField(source="payment_terms.code", read_only=True)
    # Not an EmailField: a vendor without an address has a blank one, which is no email format.
    email = serializers.CharField(read_only=True, help_text="The vendor's email, or blank.")
    is_payable = serializers.BooleanField(read_only=True)
    on_payment_hold = serializers.BooleanField(read_only=True)
    pending_bank_change = serializers.BooleanField(read_only=True)
    has_verified_bank = serializers.BooleanField(read_only=True)

    class Meta:
        model = Vendor
        fields = [
            "id",
            "name",
            "tax_id",
            "country",
            "currency",
            "status",
            "status_display",
            "status_reason",
            "is_payable",
            "on_payment_hold",
            "pending_bank_change",
            "has_verified_bank",
            "payment_terms",
            "payment_terms_code",
            "email",
            "remit_to",
            "created_at",
        ]
        read_only_fields = fields


class VendorInputSerializer(serializers.Serializer):
    """A vendor's master data as sent by a client; the service validates it."""

    name = serializers.CharField(max_length=200)
    payment_terms = serializers.PrimaryKeyRelatedField(queryset=PaymentTerms.objects.all())
    tax_id = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    country = serializers.CharField(max_length=2)
    currency = serializers.CharField(max_length=3)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    remit_to = serializers.CharField(required=False, allow_blank=True, default="")
    confirm_duplicates = serializers.BooleanField(
        default=False, help_text="Create or rename even though a similar vendor exists."
    )


class VendorCreateSerializer(VendorInputSerializer):
    """A new vendor, optionally with bank details that start as a pending change."""

    iban = serializers.CharField(max_length=42, required=False, allow_blank=True, default="")
    bic = serializers.CharField(max_length=11, required=False, allow_blank=True, default="")
    account_holder = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class DuplicateSerializer(serializers.Serializer):
    """An existing vendor the request may duplicate."""

    id = serializers.IntegerField(source="vendor.pk")
    name = serializers.CharField(source="vendor.name")
    reason = serializers.CharField()


class StatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[Vendor.Status.ACTIVE, Vendor.Status.BLOCKED])
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class VendorViewSet(
    FreshResponseMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Vendors procurement orders from and AP pays; buyers create and maintain them."""

    queryset = Vendor.objects.with_payment_hold().select_related("payment_terms")
    serializer_class = VendorSerializer
    filterset_class = VendorFilter
    ordering_fields = ["id", "name"]
    permission_classes = [roles.api_permission(Perm.READ_VENDORS)]

    @staticmethod
    def _duplicates(exc: services.PossibleDuplicate) -> Response:
        return Response(
            {"detail": exc.message, "duplicates": DuplicateSerializer(exc.matches, many=True).data},
            status=status.HTTP_409_CONFLICT,
        )

    @extend_schema(
        request=VendorCreateSerializer,
        responses={201: VendorSerializer, 409: OpenApiTypes.OBJECT},
    )
    def create(self, request: Request) -> Response:
        """Register a vendor (onboarding). 409 with `duplicates` when it looks like an existing
        one: repeat with `confirm_duplicates: true` after checking. Same tax id: 400."""
        data = dict(validated_input(VendorCreateSerializer, request))
        iban, bic, holder = data.pop("iban"), data.pop("bic"), data.pop("account_holder")
        bank = services.BankDetails(iban=iban, bic=bic, account_holder=holder) if iban else None
        try:
            vendor = services.vendor_create(by=request_user(request), bank=bank, **data)
        except services.PossibleDuplicate as exc:
            return self._duplicates(exc)
        return self._respond(vendor, status.HTTP_201_CREATED)

    @extend_schema(request=VendorInputSerializer, responses={200: VendorSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Change some master-data fields; the rest keep their value."""
        return self.update(request, pk=pk, partial=True)

    @extend_schema(request=VendorInputSerializer, responses={200: VendorSerializer})
    def update(self, request: Request, pk: str | None = None, partial: bool = False) -> Response:
        """Change master data; fields left out of a PATCH keep their value."""
        vendor = self.get_object()
        current = {
            "name": vendor.name,
            "payment_terms": vendor.payment_terms,
            "tax_id": vendor.tax_id,
            "country": vendor.country,
            "currency": vendor.currency,
            "email": vendor.email,
            "remit_to": vendor.remit_to,
        }
        # The serializer checks the body itself (a JSON list is a 400, not a crash); a PATCH
        # then lays the fields it sent over the current ones.
        payload = VendorInputSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        data = {**current, **payload.validated_data} if partial else dict(payload.validated_data)
        confirm = data.pop("confirm_duplicates", False)
        try:
            vendor = services.vendor_update(
                vendor=vendor,
                by=request_user(request),
                details=services.VendorDetails(**data),
                confirm_duplicates=confirm,
            )
        except services.PossibleDuplicate as exc:
            return self._duplicates(exc)
        return self._respond(vendor)

    @extend_schema(request=StatusInputSerializer, responses=VendorSerializer)
    @action(detail=True, methods=["post"], url_path="set-status")
    def set_status(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Activate or block the vendor; blocking needs a reason."""
        payload = validated_input(StatusInputSerializer, request)
        vendor = services.vendor_set_status(
            vendor=self.get_object(),
            status=payload["status"],
            by=request.user,
            note=payload["reason"],
        )
        return self._respond(vendor)


# --- bank accounts ----------------------------------------------------------------------------


class BankAccountSerializer(serializers.ModelSerializer):
    """A vendor bank account, masked; who entered it and who verified it."""

    iban = serializers.CharField(source="masked_iban", read_only=True)
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    requested_by_username = serializers.CharField(source="requested_by.username", read_only=True)
    verified_by_username = serializers.CharField(
        source="verified_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = BankAccount
        fields = [
            "id",
            "vendor",
            "vendor_name",
            "account_holder",
            "iban",
            "bic",
            "status",
            "status_display",
            "requested_by",
            "requested_by_username",
            "requested_at",
            "verified_by",
            "verified_by_username",
            "verified_at",
        ]
        read_only_fields = fields


class BankChangeInputSerializer(serializers.Serializer):
    vendor = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all())
    account_holder = serializers.CharField(max_length=200)
    iban = serializers.CharField(max_length=42)
    bic = serializers.CharField(max_length=11, required=False, allow_blank=True, default="")


class BankVerifyInputSerializer(serializers.Serializer):
    confirm_iban = serializers.CharField(
        max_length=42, help_text="The IBAN as confirmed with the vendor on a known phone number."
    )


class VendorReasonSerializer(serializers.Serializer):
    """Why: rejecting a bank change, terminating a contract."""

    reason = serializers.CharField(max_length=500)


class BankAccountViewSet(
    FreshResponseMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Bank-change requests and the accounts they became; a different user verifies each."""

    queryset = BankAccount.objects.select_related("vendor", "requested_by", "verified_by")
    serializer_class = BankAccountSerializer
    filterset_class = BankAccountFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_VENDORS)]

    @extend_schema(request=BankChangeInputSerializer, responses={201: BankAccountSerializer})
    def create(self, request: Request) -> Response:
        """Request a bank change; the vendor's payments are held until it is verified."""
        payload = validated_input(BankChangeInputSerializer, request)
        account = services.bank_account_request(by=request_user(request), **payload)
        return self._respond(account, status.HTTP_201_CREATED)

    @extend_schema(request=BankVerifyInputSerializer, responses=BankAccountSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Verify someone else's bank change by re-keying the confirmed IBAN."""
        payload = validated_input(BankVerifyInputSerializer, request)
        account = services.bank_account_verify(
            account=self.get_object(),
            by=request.user,
            confirm_iban=payload["confirm_iban"],
        )
        return self._respond(account)

    @extend_schema(request=VendorReasonSerializer, responses=BankAccountSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Turn down a pending bank change."""
        payload = validated_input(VendorReasonSerializer, request)
        account = services.bank_account_reject(
            account=self.get_object(), by=request.user, reason=payload["reason"]
        )
        return self._respond(account)


# --- contracts --------------------------------------------------------------------------------


class ContractLineSerializer(serializers.ModelSerializer):
    """One rate-card line."""

    class Meta:
        model = ContractLine
        fields = ["id", "item_code", "description", "uom", "unit_price"]
        read_only_fields = fields


class ContractSerializer(serializers.ModelSerializer):
    """A contract with its validity and rate card."""

    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    lines = ContractLineSerializer(many=True, read_only=True)

    class Meta:
        model = Contract
        fields = [
            "id",
            "vendor",
            "vendor_name",
            "number",
            "title",
            "currency",
            "valid_from",
            "valid_to",
            "status",
            "status_display",
            "notes",
            "created_at",
            "activated_at",
            "lines",
        ]
        read_only_fields = fields


class ContractLineInputSerializer(serializers.Serializer):
    item_code = serializers.CharField(max_length=40)
    description = serializers.CharField(max_length=200)
    uom = serializers.CharField(max_length=10, required=False, default="EA")
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=4)


class ContractInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    currency = serializers.CharField(max_length=3)
    valid_from = serializers.DateField()
    valid_to = serializers.DateField()
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    lines = ContractLineInputSerializer(many=True)


class ContractCreateSerializer(ContractInputSerializer):
    vendor = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all())
    number = serializers.CharField(max_length=40)


class ContractPriceInputSerializer(serializers.Serializer):
    vendor = serializers.IntegerField()
    item_code = serializers.CharField(max_length=40)
    currency = serializers.CharField(max_length=3)
    on_date = serializers.DateField(required=False)


class ContractPriceSerializer(ContractLineSerializer):
    """The rate-card line in force, with the contract it comes from."""

    contract = serializers.IntegerField(source="contract.pk", read_only=True)
    contract_number = serializers.CharField(source="contract.number", read_only=True)
    currency = serializers.CharField(source="contract.currency", read_only=True)

    class Meta(ContractLineSerializer.Meta):
        fields = [*ContractLineSerializer.Meta.fields, "contract", "contract_number", "currency"]
        read_only_fields = fields


def _line_inputs(data: dict) -> list[services.ContractLineInput]:
    return [services.ContractLineInput(**line) for line in data["lines"]]


class ContractViewSet(
    FreshResponseMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Vendor contracts with rate cards; buyers draft, activate and terminate them."""

    queryset = Contract.objects.select_related("vendor").prefetch_related("lines")
    serializer_class = ContractSerializer
    filterset_class = ContractFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_VENDORS)]

    @extend_schema(request=ContractCreateSerializer, responses={201: ContractSerializer})
    def create(self, request: Request) -> Response:
        """Save a draft contract with its rate card."""
        data = validated_input(ContractCreateSerializer, request)
        contract = services.contract_create(
            by=request_user(request),
            vendor=data["vendor"],
            number=data["number"],
            title=data["title"],
            currency=data["currency"],
            valid_from=data["valid_from"],
            valid_to=data["valid_to"],
            notes=data["notes"],
            lines=_line_inputs(data),
        )
        return self._respond(contract, status.HTTP_201_CREATED)

    @extend_schema(request=ContractInputSerializer, responses=ContractSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Same as PUT: a draft's header and rate card are replaced together."""
        return self.update(request, pk=pk)

    @extend_schema(request=ContractInputSerializer, responses=ContractSerializer)
    def update(self, request: Request, pk: str | None = None, partial: bool = False) -> Response:
        """Replace a draft contract's header and rate card."""
        data = validated_input(ContractInputSerializer, request)
        contract = services.contract_update(
            contract=self.get_object(),
            by=request_user(request),
            title=data["title"],
            currency=data["currency"],
            valid_from=data["valid_from"],
            valid_to=data["valid_to"],
            notes=data["notes"],
            lines=_line_inputs(data),
        )
        return self._respond(contract)

    @extend_schema(request=None, responses=ContractSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Put a draft contract's prices in force."""
        return self._respond(
            services.contract_activate(contract=self.get_object(), by=request.user)
        )

    @extend_schema(request=VendorReasonSerializer, responses=ContractSerializer)
    @action(detail=True, methods=["post"])
    def terminate(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """End a contract early, or drop a draft."""
        payload = validated_input(VendorReasonSerializer, request)
        contract = services.contract_terminate(
            contract=self.get_object(), by=request.user, reason=payload["reason"]
        )
        return self._respond(contract)

    @extend_schema(
        parameters=[ContractPriceInputSerializer],
        responses={200: ContractPriceSerializer, 404: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def price(self, request: Request) -> Response:
        """The contract price in force for a vendor's item on a date (today by default)."""
        payload = ContractPriceInputSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        line = selectors.active_contract_price(
            vendor_id=data["vendor"],
            item_code=data["item_code"],
            on_date=data.get("on_date") or timezone.localdate(),
            currency=data["currency"],
        )
        if line is None:
            return Response(
                {"detail": "No active contract prices this item on that date."},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(ContractPriceSerializer(line).data)
