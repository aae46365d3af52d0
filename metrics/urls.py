"""Metrics pages: the shared KPI dashboard, its drill-downs, targets and the weekly sync report."""

from django.urls import path

from metrics import views

app_name = "metrics"
urlpatterns = [
    path("dashboard/", views.dashboard_view, name="dashboard"),
    path("dashboard/invoices/", views.drill_invoices, name="drill_invoices"),
    path("dashboard/exceptions/", views.drill_exceptions, name="drill_exceptions"),
    path("targets/", views.targets_view, name="targets"),
    path("weekly/", views.weekly_report_view, name="weekly_report"),
    path("weekly/actions/", views.weekly_actions_view, name="weekly_actions"),
    path("weekly/email/", views.weekly_report_email_view, name="weekly_report_email"),
]
