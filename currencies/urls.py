"""Exchange-rate pages."""

from django.urls import path

from currencies import views

app_name = "currencies"
urlpatterns = [
    path("rates/", views.rate_list, name="rate_list"),
    path("rates/import/", views.rate_import, name="rate_import"),
    path("rates/manual/", views.rate_manual, name="rate_manual"),
]
