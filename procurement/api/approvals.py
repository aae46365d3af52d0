"""Approval steps as the API shows them, and the decision a request or a PO step takes."""

from rest_framework import serializers

from procurement.models import ApprovalStep
from procurement.services.approvals import Decision


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


class DecisionInputSerializer(serializers.Serializer):
    """An approver's decision on the step waiting for them."""

    decision = serializers.ChoiceField(choices=Decision.ALL)
    comment = serializers.CharField(required=False, allow_blank=True, default="")
