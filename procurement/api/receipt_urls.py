"""POST /receipts/ (a hospital confirms a delivery line, or a whole delivery)."""

from django.urls import path

from procurement.api.receipt_views import ReceiptCreateView

urlpatterns = [
    path("receipts/", ReceiptCreateView.as_view(), name="api-receipt-create"),
]
