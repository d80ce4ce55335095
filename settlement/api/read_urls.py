"""GET routes of settlement's input tables:

- /invoices/ and /invoices/{invoice}/{line_no}/ (invoice: 全电 number, or code-number for paper)
- /fund-allocations/ and /fund-allocations/{hospital_code}/{period}/
"""

from interchange.api.viewsets import read_routes
from settlement.api import read_views as v

urlpatterns = [
    *read_routes("invoices", v.InvoiceLineViewSet),
    *read_routes("fund-allocations", v.FundAllocationViewSet),
]
