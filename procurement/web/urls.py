from django.urls import include, path

urlpatterns = [
    path("", include("procurement.web.receipt_urls")),
    path("", include("procurement.web.progress_urls")),
]
