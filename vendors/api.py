"""Vendors API: read-only; vendor changes go through the maker-checker screens."""

from rest_framework import serializers, viewsets

from p2p import roles
from vendors.filters import VendorFilter
from vendors.models import PaymentTerms, Vendor

VENDOR_READERS = (roles.BUYER, roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER)


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


class VendorSerializer(serializers.ModelSerializer):
    """A vendor with its status and default terms; bank details stay out of the API."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    payment_terms_code = serializers.CharField(source="payment_terms.code", read_only=True)
    is_payable = serializers.BooleanField(read_only=True)

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
            "is_payable",
            "payment_terms",
            "payment_terms_code",
            "email",
            "remit_to",
            "created_at",
        ]
        read_only_fields = fields


class VendorViewSet(viewsets.ReadOnlyModelViewSet):
    """Vendors procurement orders from and AP pays."""

    queryset = Vendor.objects.select_related("payment_terms")
    serializer_class = VendorSerializer
    filterset_class = VendorFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_roles(*VENDOR_READERS)]


class PaymentTermsViewSet(viewsets.ReadOnlyModelViewSet):
    """The payment terms vendors and purchase orders may carry."""

    queryset = PaymentTerms.objects.all()
    serializer_class = PaymentTermsSerializer
    ordering_fields = ["id"]
    filterset_fields = ["code"]
    permission_classes = [roles.api_roles(*roles.ALL_ROLES)]
