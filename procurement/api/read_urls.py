"""GET routes of procurement's tables. Detail URLs carry the natural key:

- /products/{product_code}/, /rounds/{round_code}/
- /awards/{round_code}/{product_code}/{supply_region_code}/
- /agreements/{round_code}/{hospital_code}/{product_code}/{year_start}/
- /orders/{order_no}/{line_no}/
- /deliveries/{delivery_no}/{line_no}/, /receipts/{delivery_no}/{line_no}/

POST /receipts/ (a hospital confirms a delivery line) lives in receipt_urls: the
collection route below hands every non-GET method over to it.
"""

from interchange.api.viewsets import read_routes
from procurement.api import read_views as v

urlpatterns = [
    *read_routes("products", v.ProductViewSet),
    *read_routes("rounds", v.RoundViewSet),
    *read_routes("awards", v.AwardViewSet),
    *read_routes("agreements", v.AgreementViewSet),
    *read_routes("orders", v.OrderLineViewSet),
    *read_routes("deliveries", v.DeliveryLineViewSet),
    *read_routes("receipts", v.ReceiptViewSet, writes_in="procurement.api.receipt_urls"),
]
