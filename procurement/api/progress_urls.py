"""/api/v1/agreements/progress/ (agreement progress, scoped)."""

from django.urls import path

from procurement.api import progress_views as v

urlpatterns = [
    path("agreements/progress/", v.AgreementProgressView.as_view(), name="api-agreement-progress"),
]
