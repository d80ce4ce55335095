"""Settlement models, one module per document family (each owned by its services)."""

from settlement.models.invoices import (  # noqa: F401
    DocumentCounter,
    ExceptionCode,
    FundAllocation,
    InvoiceKind,
    InvoiceLine,
    MatchStatus,
)
from settlement.models.statements import Statement, StatementEvent, StatementStatus  # noqa: F401
