"""/api/v1/: who am I, tokens, and the parties' master data (read)."""

from django.urls import path

from interchange.api.viewsets import read_routes
from parties.api import read_views, views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("me/", views.MeView.as_view(), name="api-me"),
    *read_routes("regions", read_views.RegionViewSet),
    *read_routes("enterprises", read_views.EnterpriseViewSet),
    *read_routes("hospitals", read_views.HospitalViewSet),
]
