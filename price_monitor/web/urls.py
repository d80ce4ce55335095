"""Pages of the price analyst, under /prices/ (parties.web.urls)."""

from django.urls import path

from price_monitor.web import views

urlpatterns = [
    path("", views.inbox, name="price_inbox"),
    path("alerts/review/", views.review, name="price_alert_review"),
    path("alerts/<str:alert_no>/", views.alert_detail, name="price_alert_detail"),
    path("products/<str:product_code>/", views.product_history, name="price_product_history"),
    path("index/", views.index_page, name="price_index_page"),
    path("credit/", views.credit_list, name="price_credit_list"),
    path("credit/<str:credit_code>/", views.credit_detail, name="price_credit_detail"),
    path("report/", views.report_page, name="price_report_page"),
    path("report/download/", views.report_download, name="price_report_download"),
]
