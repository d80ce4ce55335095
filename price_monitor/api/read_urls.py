"""GET /reference-prices/ and /reference-prices/{product_code}/{source}/{region_code}/{effective_from}/."""

from interchange.api.viewsets import read_routes
from price_monitor.api import read_views as v

urlpatterns = [
    *read_routes("reference-prices", v.ReferencePriceViewSet),
]
