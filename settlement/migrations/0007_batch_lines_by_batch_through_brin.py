"""A province batch writes 2.76M lines at L, and each B-tree index on batch lines costs
about 5 s of that INSERT. (batch, distributor) and (distributor, live) become one index,
(distributor, batch); a batch's whole line set is found through a BRIN index on batch_id
(PostgreSQL): the lines of a batch are written by one INSERT into pages of their own, so a
block range holds one batch or two, and keeping the index costs next to nothing
(batch_create summarises the new pages; autosummarize where autovacuum runs)."""

from django.db import migrations, models

BRIN = "settlement_batchline_batch_brin"


def brin_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {BRIN} ON settlement_batchline USING brin (batch_id) "
            "WITH (pages_per_range = 32, autosummarize = on)"
        )


def brin_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {BRIN}")


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
        migrations.RunPython(brin_create, brin_drop),
    ]
