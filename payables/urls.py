"""AP pages: invoices, the exception queue and payment runs."""

from django.urls import path

from payables.views import capture as capture_views
from payables.views import exceptions as exception_views
from payables.views import invoices as invoice_views
from payables.views import payments as payment_views

app_name = "payables"
urlpatterns = [
    path("invoices/", invoice_views.invoice_list, name="invoice_list"),
    path("invoices/new/", invoice_views.invoice_create, name="invoice_create"),
    path("invoices/<int:pk>/", invoice_views.invoice_detail, name="invoice_detail"),
    path("invoices/import/", capture_views.invoice_import, name="invoice_import"),
    path(
        "invoices/import/<int:pk>/",
        capture_views.import_batch_detail,
        name="import_batch_detail",
    ),
    path(
        "invoices/<int:pk>/attachments/",
        capture_views.invoice_attachment_add,
        name="invoice_attachment_add",
    ),
    path(
        "invoices/<int:pk>/attachments/<int:attachment_pk>/",
        capture_views.invoice_attachment,
        name="invoice_attachment",
    ),
    path("exceptions/", exception_views.exception_list, name="exception_list"),
    path("exceptions/next/", exception_views.exception_claim_next, name="exception_claim_next"),
    path("exceptions/bulk/", exception_views.exception_bulk, name="exception_bulk"),
    path("exceptions/bulk/<int:pk>/", exception_views.bulk_job_detail, name="bulk_job_detail"),
    path("exceptions/mentions/", exception_views.mention_list, name="mention_list"),
    path("exceptions/<int:pk>/", exception_views.exception_detail, name="exception_detail"),
    path("exceptions/<int:pk>/act/", exception_views.exception_act, name="exception_act"),
    path("exceptions/<int:pk>/claim/", exception_views.exception_claim, name="exception_claim"),
    path(
        "exceptions/<int:pk>/release/", exception_views.exception_release, name="exception_release"
    ),
    path(
        "exceptions/<int:pk>/context/", exception_views.exception_context, name="exception_context"
    ),
    path(
        "exceptions/<int:pk>/comments/", exception_views.exception_comment, name="exception_comment"
    ),
    path("runs/", payment_views.run_list, name="run_list"),
    path("runs/<int:pk>/", payment_views.run_detail, name="run_detail"),
    path("runs/<int:pk>/approve/", payment_views.run_approve, name="run_approve"),
    path("runs/<int:pk>/export/", payment_views.run_export, name="run_export"),
    path("runs/<int:pk>/mark-paid/", payment_views.run_mark_paid, name="run_mark_paid"),
    path("runs/<int:pk>/cancel/", payment_views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/add/", payment_views.run_add_invoice, name="run_add_invoice"),
    path(
        "runs/<int:pk>/remove/<int:invoice_pk>/",
        payment_views.run_remove_invoice,
        name="run_remove_invoice",
    ),
    path(
        "runs/<int:pk>/bank-confirmation/",
        payment_views.run_bank_confirm,
        name="run_bank_confirm",
    ),
    path(
        "runs/<int:pk>/payments/<int:payment_pk>/void/",
        payment_views.run_void,
        name="run_void",
    ),
    path(
        "runs/<int:pk>/files/<int:export_pk>/replace/",
        payment_views.run_file_replace,
        name="run_file_replace",
    ),
    path(
        "runs/<int:pk>/files/<int:export_pk>/",
        payment_views.export_download,
        name="run_export_download",
    ),
    path(
        "runs/<int:pk>/remittance/<int:vendor_pk>/",
        payment_views.remittance,
        name="run_remittance",
    ),
    path(
        "runs/<int:pk>/remittance/send/", payment_views.remittance_send, name="run_remittance_send"
    ),
    path("cash-calendar/", payment_views.cash_calendar, name="cash_calendar"),
    path("payment-settings/", payment_views.company_settings, name="company_settings"),
    path("invoices/<int:pk>/hold/", payment_views.invoice_hold, name="invoice_hold"),
]
