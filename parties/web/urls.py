from django.contrib.auth import views as auth_views
from django.urls import include, path

from parties.web import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("hospital/", include("procurement.web.urls")),  # receipts, agreement progress
    path("", include("settlement.web.urls")),  # statements, lines, batches, payments, alerts
    path("prices/", include("price_monitor.web.urls")),
]
