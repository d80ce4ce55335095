from django.urls import include, path

urlpatterns = [
    path("", include("price_monitor.api.read_urls")),  # reference prices (read)
    path("", include("price_monitor.api.price_urls")),  # price alerts, index, report
]
