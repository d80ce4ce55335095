"""Settlement API routes; each module is owned by the feature that builds it."""

from django.urls import include, path

urlpatterns = [
    path("", include("settlement.api.read_urls")),  # invoices, fund allocations (read)
    path("", include("settlement.api.statement_urls")),  # matching, line stages, statements, payables
    path("", include("settlement.api.batch_urls")),  # batches, payments, ledger, receivables
    path("", include("settlement.api.alert_urls")),  # alerts, late-payment board
]
