"""Vendor pages: the vendor master, bank changes, payment holds, contracts and imports."""

from django.urls import path

from vendors import views

app_name = "vendors"
urlpatterns = [
    path("", views.vendor_list, name="vendor_list"),
    path("new/", views.vendor_create, name="vendor_create"),
    path("<int:pk>/", views.vendor_detail, name="vendor_detail"),
    path("<int:pk>/edit/", views.vendor_edit, name="vendor_edit"),
    path("<int:pk>/status/", views.vendor_set_status, name="vendor_set_status"),
    path("<int:pk>/bank-change/", views.bank_change_request, name="bank_change_request"),
    path("bank-accounts/<int:pk>/verify/", views.bank_change_verify, name="bank_change_verify"),
    path("bank-accounts/<int:pk>/reject/", views.bank_change_reject, name="bank_change_reject"),
    path("payment-holds/", views.payment_holds, name="payment_holds"),
    path("contracts/", views.contract_list, name="contract_list"),
    path("contracts/new/", views.contract_create, name="contract_create"),
    path("contracts/line-row/", views.contract_line_row, name="contract_line_row"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/edit/", views.contract_edit, name="contract_edit"),
    path("contracts/<int:pk>/activate/", views.contract_activate, name="contract_activate"),
    path("contracts/<int:pk>/terminate/", views.contract_terminate, name="contract_terminate"),
    path("imports/", views.vendor_import, name="import_form"),
    path("imports/sample.csv", views.vendor_import_sample, name="import_sample"),
    path("imports/<int:pk>/", views.vendor_import_detail, name="import_detail"),
    path("imports/<int:pk>/status/", views.vendor_import_status, name="import_status"),
    path("imports/<int:pk>/valid-rows/", views.vendor_import_valid_rows, name="import_valid_rows"),
]
