"""Statements (list, detail with lines, confirm, dispute) and the line-stage list."""

from django.urls import path

from settlement.api import statement_views as v

urlpatterns = [
    path("statements/", v.StatementListView.as_view(), name="api-statement-list"),
    path("statements/<str:no>/", v.StatementDetailView.as_view(), name="api-statement-detail"),
    path("statements/<str:no>/confirm/", v.StatementConfirmView.as_view(), name="api-statement-confirm"),
    path("statements/<str:no>/dispute/", v.StatementDisputeView.as_view(), name="api-statement-dispute"),
    path("lines/", v.LineListView.as_view(), name="api-line-list"),
]
