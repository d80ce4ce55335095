from django.urls import path

from settlement.web import batch_views as v

urlpatterns = [
    path("batches/", v.batch_list, name="settlement-batches"),
    path("batches/create/", v.batch_create_view, name="settlement-batch-create"),
    path("batches/<str:no>/", v.batch_detail, name="settlement-batch-detail"),
    path("batches/<str:no>/bank-file/", v.batch_bank_file, name="settlement-batch-bank-file"),
    path("batches/<str:no>/<str:action>/", v.batch_action, name="settlement-batch-action"),
    path("payments/", v.payment_list, name="settlement-payments"),
    path("payments/<str:no>/reissue/", v.payment_reissue, name="settlement-payment-reissue"),
    path("collections/", v.collection_list, name="settlement-collections"),
    path("collections/<str:no>/pay/", v.collection_pay_view, name="settlement-collection-pay"),
    path("prepayments/", v.prepayment_list, name="settlement-prepayments"),
    path("prepayments/<str:action>/", v.prepayment_action, name="settlement-prepayment-action"),
    path("receivables/", v.receivables_dashboard, name="settlement-receivables"),
]
