import pytest
from django.db import IntegrityError, transaction

from tests.factories import DeliveryLineFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db


def test_factories_build_a_consistent_purchase():
    line = InvoiceLineFactory()
    dl = line.delivery_line
    assert dl.accepted_qty + dl.rejected_qty == dl.qty
    assert line.hospital == dl.order_line.hospital
    assert line.amount == line.qty * line.unit_price


def test_database_refuses_receipt_that_does_not_add_up():
    dl = DeliveryLineFactory(received=True)
    dl.accepted_qty = dl.qty - 1  # rejected stays 0
    with pytest.raises(IntegrityError), transaction.atomic():
        dl.save()
