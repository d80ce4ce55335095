"""/api/v1/alerts/ (list, detail, acknowledge / confirm / dismiss)."""

from django.urls import path

from settlement.api import alert_views as v

urlpatterns = [
    path("alerts/", v.AlertListView.as_view(), name="api-alert-list"),
    path("alerts/<str:alert_no>/", v.AlertDetailView.as_view(), name="api-alert-detail"),
    path(
        "alerts/<str:alert_no>/acknowledge/",
        v.AlertTransitionView.as_view(action_name="acknowledge"),
        name="api-alert-acknowledge",
    ),
    path(
        "alerts/<str:alert_no>/confirm/", v.AlertTransitionView.as_view(action_name="confirm"), name="api-alert-confirm"
    ),
    path(
        "alerts/<str:alert_no>/dismiss/", v.AlertTransitionView.as_view(action_name="dismiss"), name="api-alert-dismiss"
    ),
]
