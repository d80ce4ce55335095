"""A province batch writes 2.76M lines at L, and each B-tree index on batch lines costs
about 5 s of that INSERT. (batch, distributor) and (distributor, live) become one index,
(distributor, batch); a batch's whole line set is found through a BRIN index on batch_id,
which settlement.models.ledger.install_immutability_triggers creates after every migrate
(PostgreSQL), so that a schema built from the models has it too."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0006_fewer_batch_line_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="batchline", name="settlement__batch_i_edb04e_idx"),
        migrations.RemoveIndex(model_name="batchline", name="settlement__distrib_67c0a4_idx"),
        migrations.AddIndex(
            model_name="batchline",
            index=models.Index(fields=["distributor", "batch"], name="batchline_distributor_batch"),
        ),
    ]
