"""Procurement pages: requests, approvals, budgets, purchase orders and receipts."""

from django.urls import path

from procurement import views

app_name = "procurement"
urlpatterns = [
    path("requests/", views.request_list, name="request_list"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/new/line/", views.request_line_row, name="request_line_row"),
    path("requests/hints/", views.request_form_hints, name="request_form_hints"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/edit/", views.request_edit, name="request_edit"),
    path("requests/<int:pk>/copy/", views.request_copy, name="request_copy"),
    path("requests/<int:pk>/submit/", views.request_submit, name="request_submit"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request_withdraw"),
    path("requests/<int:pk>/attachments/", views.request_attach, name="request_attach"),
    path(
        "requests/<int:pk>/attachments/<int:attachment_pk>/",
        views.request_attachment,
        name="request_attachment",
    ),
    path(
        "requests/<int:pk>/attachments/<int:attachment_pk>/remove/",
        views.request_attachment_remove,
        name="request_attachment_remove",
    ),
    path("requests/<int:pk>/order/", views.po_create, name="po_create"),
    path("approvals/", views.approval_inbox, name="approval_inbox"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="approval_decide"),
    path("approvals/delegations/", views.delegation_list, name="delegation_list"),
    path(
        "approvals/delegations/<int:pk>/cancel/",
        views.delegation_cancel,
        name="delegation_cancel",
    ),
    path("approvals/rules/", views.rule_list, name="rule_list"),
    path("approvals/rules/new/", views.rule_edit, name="rule_create"),
    path("approvals/rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("budgets/", views.budget_list, name="budget_list"),
    path("budgets/new/", views.budget_edit, name="budget_create"),
    path("budgets/<int:pk>/edit/", views.budget_edit, name="budget_edit"),
    path("budgets/cost-centers/<int:pk>/", views.budget_cost_center, name="budget_cost_center"),
    path("orders/", views.po_list, name="po_list"),
    path("orders/new/", views.po_select, name="po_select"),
    path("orders/<int:pk>/", views.po_detail, name="po_detail"),
    path("orders/<int:pk>/edit/", views.po_edit, name="po_edit"),
    path("orders/<int:pk>/issue/", views.po_issue, name="po_issue"),
    path("orders/<int:pk>/reapproval/", views.po_reapproval, name="po_reapproval"),
    path("orders/<int:pk>/revise/", views.po_revise, name="po_revise"),
    path("orders/<int:pk>/close/", views.po_close, name="po_close"),
    path("orders/<int:pk>/cancel/", views.po_cancel, name="po_cancel"),
    path("orders/<int:pk>/send/", views.po_send, name="po_send"),
    path("orders/<int:pk>/document/", views.po_document, name="po_document"),
    path("orders/<int:pk>/document.pdf", views.po_pdf, name="po_pdf"),
    path("orders/<int:pk>/receive/", views.receipt_create, name="receipt_create"),
]
