"""/api/v1/: each app contributes its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("parties.api.urls")),
    path("", include("procurement.api.urls")),
    path("", include("settlement.api.urls")),
    path("", include("price_monitor.api.urls")),
    path("", include("interchange.api.urls")),
]
