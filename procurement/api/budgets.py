"""Budgets through the API, with committed, spent and available."""

from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from p2p import roles
from p2p.roles import Perm
from procurement import selectors
from procurement.filters import BudgetFilter
from procurement.models import Budget


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


class BudgetViewSet(viewsets.ReadOnlyModelViewSet):
    """Budgets with committed, spent and available, per cost center and period."""

    serializer_class = BudgetSerializer
    filterset_class = BudgetFilter
    ordering_fields = ["id"]
    permission_classes = [roles.api_permission(Perm.READ_BUDGETS)]

    def get_queryset(self) -> QuerySet[Budget]:
        return selectors.budgets_with_position()
