"""Pages of alerts: inbox, detail and actions, late-payment board, 通报 list, notifications."""

from django.urls import path

from settlement.web import alert_views as v

urlpatterns = [
    path("alerts/", v.alert_list, name="alert-list"),
    path("alerts/bulk/", v.alert_bulk, name="alert-bulk"),
    path("alerts/late-payments/", v.late_payment_board_view, name="late-payment-board"),
    path("alerts/late-payments/lines/", v.late_payment_lines, name="late-payment-lines"),
    path("alerts/notices/", v.notice_list_view, name="notice-list"),
    path("alerts/notices/<str:hospital_code>/recover/", v.notice_recover, name="notice-recover"),
    path("alerts/<str:alert_no>/", v.alert_detail, name="alert-detail"),
    path("alerts/<str:alert_no>/<str:action>/", v.alert_action, name="alert-action"),
    path("notifications/", v.notifications_view, name="notifications"),
]
