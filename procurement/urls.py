"""Procurement pages: requests, approvals, budgets, purchase orders and receipts."""

from django.urls import path

from procurement.views import (
    approvals,
    attachments,
    budgets,
    orders,
    receipts,
    requests,
    revisions,
    routing,
    sending,
)

app_name = "procurement"
urlpatterns = [
    path("requests/", requests.request_list, name="request_list"),
    path("requests/new/", requests.request_create, name="request_create"),
    path("requests/new/line/", requests.request_line_row, name="request_line_row"),
    path("requests/hints/", requests.request_form_hints, name="request_form_hints"),
    path("requests/<int:pk>/", requests.request_detail, name="request_detail"),
    path("requests/<int:pk>/edit/", requests.request_edit, name="request_edit"),
    path("requests/<int:pk>/copy/", requests.request_copy, name="request_copy"),
    path("requests/<int:pk>/submit/", requests.request_submit, name="request_submit"),
    path("requests/<int:pk>/withdraw/", requests.request_withdraw, name="request_withdraw"),
    path("requests/<int:pk>/attachments/", attachments.request_attach, name="request_attach"),
    path(
        "requests/<int:pk>/attachments/<int:attachment_pk>/",
        attachments.request_attachment,
        name="request_attachment",
    ),
    path(
        "requests/<int:pk>/attachments/<int:attachment_pk>/remove/",
        attachments.request_attachment_remove,
        name="request_attachment_remove",
    ),
    path("requests/<int:pk>/order/", orders.po_create, name="po_create"),
    path("approvals/", approvals.approval_inbox, name="approval_inbox"),
    path("approvals/<int:pk>/decide/", approvals.approval_decide, name="approval_decide"),
    path("approvals/delegations/", approvals.delegation_list, name="delegation_list"),
    path(
        "approvals/delegations/<int:pk>/cancel/",
        approvals.delegation_cancel,
        name="delegation_cancel",
    ),
    path("approvals/rules/", routing.rule_list, name="rule_list"),
    path("approvals/rules/new/", routing.rule_edit, name="rule_create"),
    path("approvals/rules/<int:pk>/", routing.rule_edit, name="rule_edit"),
    path("budgets/", budgets.budget_list, name="budget_list"),
    path("budgets/new/", budgets.budget_edit, name="budget_create"),
    path("budgets/<int:pk>/edit/", budgets.budget_edit, name="budget_edit"),
    path("budgets/cost-centers/<int:pk>/", budgets.budget_cost_center, name="budget_cost_center"),
    path("orders/", orders.po_list, name="po_list"),
    path("orders/new/", orders.po_select, name="po_select"),
    path("orders/<int:pk>/", orders.po_detail, name="po_detail"),
    path("orders/<int:pk>/edit/", orders.po_edit, name="po_edit"),
    path("orders/<int:pk>/issue/", orders.po_issue, name="po_issue"),
    path("orders/<int:pk>/reapproval/", orders.po_reapproval, name="po_reapproval"),
    path("orders/<int:pk>/revise/", revisions.po_revise, name="po_revise"),
    path("orders/<int:pk>/close/", orders.po_close, name="po_close"),
    path("orders/<int:pk>/cancel/", orders.po_cancel, name="po_cancel"),
    path("orders/<int:pk>/send/", sending.po_send, name="po_send"),
    path("orders/<int:pk>/document/", sending.po_document, name="po_document"),
    path("orders/<int:pk>/document.pdf", sending.po_pdf, name="po_pdf"),
    path("orders/<int:pk>/receive/", receipts.receipt_create, name="receipt_create"),
]
