"""A province batch writes 2.76M lines at L, and each B-tree index on batch lines costs
3–5 s of that INSERT. The two party indexes, (hospital, live) and (distributor, batch),
go: a party's lines are found through its invoice lines' (hospital|distributor,
match_status) indexes and the one-live-batch index (parties.scoping.BATCH_LINE), a
batch's lines of one distributor through the BRIN index on batch_id."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0007_batch_lines_by_batch_through_brin"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="batchline", name="settlement__hospita_aa04b3_idx"),
        migrations.RemoveIndex(model_name="batchline", name="batchline_distributor_batch"),
    ]
