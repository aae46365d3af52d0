"""Domain errors: raised by services, turned into a message (HTML) or a status code (API)."""

from django.core.exceptions import PermissionDenied


class DomainError(Exception):
    """A rule of the business refused the operation; the message is meant for the user."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidTransition(DomainError):
    """The document is not in a state that allows this step."""

    status_code = 409


class SegregationOfDutiesError(DomainError):
    """The same person may not perform both sides of a control."""

    status_code = 403


class NotAllowed(DomainError, PermissionDenied):
    """The user lacks the role or the relationship to the document that the step needs.

    The one "forbidden": it is also Django's PermissionDenied, so a view that lets it through
    answers with the 403 page (`handler403`) and the API with a 403 and the message.
    """

    status_code = 403
