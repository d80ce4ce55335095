"""Settlement models, one module per document family (each owned by its services)."""

from settlement.models.alerts import (  # noqa: F401
    Alert,
    AlertEvent,
    AlertKind,
    AlertSeverity,
    AlertStatus,
    AlertTally,
    Notification,
    PaymentStage,
    Responsible,
    SubjectType,
)
from settlement.models.batches import (  # noqa: F401
    BATCH_TRANSITIONS,
    BatchEvent,
    BatchLine,
    BatchStatus,
    CollectionEvent,
    CollectionOrder,
    CollectionStatus,
    ConfirmationStatus,
    InstructionEvent,
    InstructionStatus,
    PaymentConfirmation,
    PaymentInstruction,
    SettlementBatch,
)
from settlement.models.invoices import (  # noqa: F401
    DocumentCounter,
    ExceptionCode,
    FundAllocation,
    InvoiceKind,
    InvoiceLine,
    MatchStatus,
)
from settlement.models.ledger import Account, EntryKind, JournalEntry, JournalLine  # noqa: F401
from settlement.models.statements import Statement, StatementEvent, StatementStatus  # noqa: F401
