"""Agreement progress pages (under /hospital/): the hospital's chart, the bureau overview."""

from django.urls import path

from procurement.web import progress_views as v

urlpatterns = [
    path("progress/", v.progress_hospital, name="agreement-progress"),
    path("progress/overview/", v.progress_overview, name="agreement-progress-overview"),
]
