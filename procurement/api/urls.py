from django.urls import include, path

urlpatterns = [
    path("", include("procurement.api.read_urls")),  # catalogue, rounds, awards, agreements, orders, deliveries (read)
    path("", include("procurement.api.receipt_urls")),  # POST /receipts/
    path("", include("procurement.api.progress_urls")),  # agreements/progress, prepayments
]
