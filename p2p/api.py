"""API plumbing shared by the apps: pagination, input checks, error mapping, fresh responses."""

import re
from typing import Any, Protocol

from django import urls
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.urlpatterns import format_suffix_patterns
from rest_framework.views import exception_handler as drf_exception_handler

from p2p.exceptions import DomainError


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pagination: lists grow without bound and page numbers would COUNT(*) them all."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ObjectViewSet(Protocol):
    """What FreshResponseMixin needs from the viewset it is mixed into."""

    def get_queryset(self) -> QuerySet[Any]: ...

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer[Any]: ...


class AppRouter(DefaultRouter):
    """An app's own API router (`<app>/api_urls.py`): its ViewSets' URLs, without a root view.

    The core includes each app's router by its dotted name and serves the one root view
    that lists them all (`api_root_urls`), so it never imports an app.
    """

    include_root_view = False


def api_root_urls(app_urlconfs: list[tuple]) -> list[urls.URLPattern | urls.URLResolver]:
    """The browsable API's front page (`/api/`), listing every app router's list endpoint.

    `app_urlconfs` are the `include("<app>.api_urls")` results: each names the imported
    module, whose `router` holds the registrations, in the order they are included.
    """
    api_root_dict = {}
    for urlconf_module, _app_name, _namespace in app_urlconfs:
        for prefix, _viewset, basename in urlconf_module.router.registry:
            api_root_dict[prefix] = DefaultRouter.routes[0].name.format(basename=basename)
    view = DefaultRouter.APIRootView.as_view(api_root_dict=api_root_dict)
    return format_suffix_patterns([urls.path("", view, name=DefaultRouter.root_view_name)])


class FreshResponseMixin:
    """Viewset mixin answering a state change with the object as a GET would show it."""

    def _respond(self: ObjectViewSet, obj: Model, code: int = status.HTTP_200_OK) -> Response:
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


ERROR_SCHEMA = {
    "type": "object",
    "description": "Why the request was refused, in words a clerk understands.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "What is wrong with the input: each offending field (or `non_field_errors`) with its "
        "messages, or `detail` when a business rule refused the request as a whole."
    ),
    "additionalProperties": {},
}
ERROR_DESCRIPTIONS = {
    "400": "Invalid input or a business rule refused it.",
    "401": "Not logged in: no session and no valid token.",
    "403": "The user's role or relationship to the document does not allow this.",
    "404": "No such document visible to this user, or an unknown page cursor.",
    "409": "The document is not in a state that allows this step, or the first request with "
    "this Idempotency-Key is still being processed.",
    "422": "The Idempotency-Key was already used for a different request.",
}


def _error_codes(path: str, method: str, operation: dict) -> list[str]:
    """The refusals an operation can answer with, from its shape alone."""
    parameters = operation.get("parameters", [])
    codes = ["403"]
    if {} not in operation.get("security", []):
        codes.append("401")
    has_query = any(p["in"] == "query" for p in parameters)
    if has_query or "requestBody" in operation or method != "get":
        codes.append("400")
    # A path parameter names a document that may not exist or not be visible to the user;
    # a list may be handed a cursor that is not one of ours.
    if re.search(r"{\w+}", path) or any(p["name"] == "cursor" for p in parameters):
        codes.append("404")
    if method != "get":
        codes.append("409")
    if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in parameters):
        codes.append("422")
    return codes


def document_error_responses(result: dict, generator, request, public: bool) -> dict:
    """drf-spectacular hook: every operation documents the refusals the exception handler sends.

    Written once here rather than on each view, so an endpoint added later is described
    honestly too (the schemathesis test checks every status it sees is documented).
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["ValidationError"] = VALIDATION_ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _error_codes(path, method, operation):
                if code in responses:
                    continue
                component = "ValidationError" if code == "400" else "Error"
                responses[code] = {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{component}"}
                        }
                    },
                }
    return result
