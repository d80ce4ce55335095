from django.urls import include, path

urlpatterns = [
    path("", include("settlement.web.statement_urls")),
    path("", include("settlement.web.batch_urls")),
    path("", include("settlement.web.alert_urls")),
]
