"""What the procurement pages share: paging, tidy list filters, and the roles that work the
approval inbox or keep the approval rules.

Views parse input with a form, call one service and turn DomainError into a message;
PermissionDenied from a service bubbles up as a 403.
"""

from django.core.paginator import Paginator

from p2p.http import AuthenticatedHttpRequest

PAGE_SIZE = 50


def _tidy_filters(form, *, order: list[str], drop: tuple[str, ...] = ()) -> None:
    """Lay out a FilterSet's form for the filter bar: chosen fields, 'Any …' blanks, date pickers."""
    for name in drop:
        form.fields.pop(name, None)
    form.order_fields(order)
    for name, field in form.fields.items():
        if not field.label:
            # Schema generation can leave a declared filter's lazy label unset.
            field.label = name.replace("_", " ").capitalize()
        if getattr(field, "empty_label", None) is not None:
            field.empty_label = f"Any {field.label.lower()}"
            field.widget.choices = field.choices  # the widget keeps its own copy of the choices
        if field.widget.input_type == "text" and "date" in type(field).__name__.lower():
            field.widget.input_type = "date"


def _page(request: AuthenticatedHttpRequest, rows) -> tuple:
    """The requested page of rows and the query string without `page`, for the pager links."""
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()
