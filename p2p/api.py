"""API plumbing shared by the apps: pagination, input checks, error mapping, fresh responses."""

from django.core.exceptions import PermissionDenied
from django.db.models import Model
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from p2p.exceptions import DomainError


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pagination: lists grow without bound and page numbers would COUNT(*) them all."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class FreshResponseMixin:
    """Viewset mixin answering a state change with the object as a GET would show it."""

    def _respond(self, obj: Model, code: int = status.HTTP_200_OK) -> Response:
        # Services return the bare instance; re-read it through get_queryset so the
        # annotations, prefetches and visibility rules of the list/detail endpoints apply.
        fresh = self.get_queryset().get(pk=obj.pk)
        return Response(self.get_serializer(fresh).data, status=code)


def validated_input(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The request body checked by an input serializer; a 400 with the field errors if not."""
    payload = serializer_class(data=request.data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def exception_handler(exc, context):
    """Domain errors become 400/403/409 with the clerk-readable message as `detail`."""
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message}, status=exc.status_code)
    if isinstance(exc, PermissionDenied):
        return Response({"detail": str(exc) or "Not allowed."}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)
