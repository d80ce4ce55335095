"""Pages: statements (list, detail, confirm, dispute) and invoice-line stages."""

from django.urls import path

from settlement.web import statement_views as v

urlpatterns = [
    path("statements/", v.statement_list, name="settlement-statements"),
    path("statements/<str:no>/", v.statement_detail, name="settlement-statement-detail"),
    path("statements/<str:no>/confirm/", v.statement_confirm_view, name="settlement-statement-confirm"),
    path("statements/<str:no>/dispute/", v.statement_dispute_view, name="settlement-statement-dispute"),
    path("lines/", v.line_list, name="settlement-lines"),
]
