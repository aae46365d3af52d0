"""What the procurement API modules share.

Every write parses its input with a plain serializer, calls the service and answers with
the document re-read through the ViewSet's queryset, so a response looks like a GET."""

from rest_framework import viewsets


def _schema_only(view: viewsets.GenericViewSet) -> bool:
    """drf-spectacular inspects querysets with an anonymous user, who owns nothing."""
    return getattr(view, "swagger_fake_view", False)
