"""Pages under /hospital/: 验收入库 (receipts)."""

from django.urls import path

from procurement.web.receipt_views import receipts_page

urlpatterns = [
    path("receipts/", receipts_page, name="procurement-receipts"),
]
