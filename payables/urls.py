"""AP pages: invoices, the exception queue and payment runs."""

from django.urls import path

from payables import views

app_name = "payables"
urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/new/", views.invoice_create, name="invoice_create"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice_detail"),
    path("exceptions/", views.exception_list, name="exception_list"),
    path("exceptions/<int:pk>/", views.exception_detail, name="exception_detail"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/approve/", views.run_approve, name="run_approve"),
    path("runs/<int:pk>/mark-paid/", views.run_mark_paid, name="run_mark_paid"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
]
