"""/api/v1/: each app contributes its own routes; anything else answers 404 in the error shape."""

from django.urls import include, path, re_path

from interchange.api.errors import api_not_found

urlpatterns = [
    path("", include("parties.api.urls")),
    path("", include("procurement.api.urls")),
    path("", include("settlement.api.urls")),
    path("", include("price_monitor.api.urls")),
    path("", include("interchange.api.urls")),
    re_path(r"^.*$", api_not_found),
]
