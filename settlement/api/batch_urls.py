"""/api/v1/ routes of batches, payments, collections, prepayments, receivables, ledger."""

from django.urls import path

from settlement.api import batch_views as v

urlpatterns = [
    path("batches/", v.BatchListCreate.as_view(), name="api-batches"),
    path("batches/preview/", v.BatchPreviewView.as_view(), name="api-batch-preview"),
    path("batches/<str:no>/", v.BatchDetail.as_view(), name="api-batch-detail"),
    path("batches/<str:no>/submit/", v.BatchSubmit.as_view(), name="api-batch-submit"),
    path("batches/<str:no>/approve/", v.BatchApprove.as_view(), name="api-batch-approve"),
    path("batches/<str:no>/reject/", v.BatchReject.as_view(), name="api-batch-reject"),
    path("batches/<str:no>/cancel/", v.BatchCancel.as_view(), name="api-batch-cancel"),
    path("batches/<str:no>/bank-file/", v.BatchBankFile.as_view(), name="api-batch-bank-file"),
    path("payment-instructions/", v.InstructionList.as_view(), name="api-instructions"),
    path("payment-instructions/<str:no>/reissue/", v.InstructionReissue.as_view(), name="api-instruction-reissue"),
    path("payment-confirmations/", v.PaymentConfirmationImport.as_view(), name="api-payment-confirmations"),
    path("collections/", v.CollectionList.as_view(), name="api-collections"),
    path("collections/<str:no>/pay/", v.CollectionPay.as_view(), name="api-collection-pay"),
    path("prepayments/balances/", v.PrepaymentList.as_view(), name="api-prepayment-balances"),
    path("prepayments/compute/", v.PrepaymentCompute.as_view(), name="api-prepayments-compute"),
    path("prepayments/recover/", v.PrepaymentRecover.as_view(), name="api-prepayment-recover"),
    path("prepayments/clear/", v.PrepaymentClear.as_view(), name="api-prepayment-clear"),
    path("prepayments/<int:pk>/pay/", v.PrepaymentPay.as_view(), name="api-prepayment-pay"),
    path("receivables/", v.ReceivablesView.as_view(), name="api-receivables"),
    path("ledger/verify/", v.LedgerVerifyView.as_view(), name="api-ledger-verify"),
]
