"""Procurement pages: requests, approvals, purchase orders and receipts."""

from django.urls import path

from procurement import views

app_name = "procurement"
urlpatterns = [
    path("requests/", views.request_list, name="request_list"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/new/line/", views.request_line_row, name="request_line_row"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/submit/", views.request_submit, name="request_submit"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request_withdraw"),
    path("requests/<int:pk>/order/", views.po_create, name="po_create"),
    path("approvals/", views.approval_inbox, name="approval_inbox"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="approval_decide"),
    path("orders/", views.po_list, name="po_list"),
    path("orders/<int:pk>/", views.po_detail, name="po_detail"),
    path("orders/<int:pk>/issue/", views.po_issue, name="po_issue"),
    path("orders/<int:pk>/receive/", views.receipt_create, name="receipt_create"),
]
