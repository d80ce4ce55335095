import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_history_codes_render_as_bilingual_labels():
    from parties.templatetags.labels import doc_label

    assert str(doc_label("approve")) == "审核通过 / approved"
    assert str(doc_label("submitted")) == "待审核 / submitted"  # a batch status
    assert str(doc_label("lines_added")) == "加入明细 / lines added"
    assert doc_label("something_new") == "something_new"  # unknown codes pass through
    assert doc_label("") == ""


def test_batch_page_history_shows_labels_not_codes(client):
    from settlement.models.batches import BatchEvent, SettlementBatch
    from tests.factories import BureauFactory, bureau_user

    bureau = BureauFactory()
    maker = bureau_user(bureau)
    batch = SettlementBatch.objects.create(
        no="JS2026999999", region=bureau.region, cutoff="2026-09-30", period="2026-09", created_by=maker
    )
    BatchEvent.objects.create(batch=batch, user=maker, action="create", to_status="draft")
    client.force_login(UserFactory(role="admin", is_superuser=True))
    html = client.get(f"/batches/{batch.no}/").content.decode()
    assert "生成 / created" in html
    assert "草稿 / draft" in html
