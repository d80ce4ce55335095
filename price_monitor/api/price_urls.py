"""Price monitoring API under /api/v1/:

- GET  prices/index/?region=&category=&base=
- POST prices/alerts/review/          (bulk confirm/dismiss; Idempotency-Key)
- GET  prices/credit/, prices/credit/{credit_code}/
- GET  prices/products/{product_code}/history/?region=&period=&months=
- GET  prices/report/?region=&period=  (XLSX)
"""

from django.urls import path

from price_monitor.api import price_views as v

urlpatterns = [
    path("prices/index/", v.PriceIndexView.as_view(), name="api_price_index"),
    path("prices/alerts/review/", v.PriceAlertReviewView.as_view(), name="api_price_alert_review"),
    path("prices/credit/", v.CreditListView.as_view(), name="api_price_credit_list"),
    path("prices/credit/<str:credit_code>/", v.CreditDetailView.as_view(), name="api_price_credit_detail"),
    path("prices/products/<str:product_code>/history/", v.ProductHistoryView.as_view(), name="api_price_history"),
    path("prices/report/", v.PriceReportView.as_view(), name="api_price_report"),
]
