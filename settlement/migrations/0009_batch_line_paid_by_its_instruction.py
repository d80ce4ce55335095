"""A batch line is paid when its distributor's instruction in its batch is paid
(settlement.models.batches.BatchLineQuerySet.paid): the line's own ``paid_at`` goes.

A bank confirmation used to write its time onto every line it paid (2.76M lines for a
province batch at L), so each line page kept room for that update (fillfactor 45). Lines
are now written once, at creation (approval writes their funding again only when it
splits anew), and the pages are filled: a province batch is written in fewer pages and
read in half as many. Nothing is lost: every line's time was its instruction's, which the
instruction still holds.

On PostgreSQL the update trigger names the column in its WHEN clause, so it is dropped
first; settlement.models.ledger.install_immutability_triggers puts it back (without the
column) after migrate."""

from django.db import migrations


def _drop_guard_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS batchline_guard_update ON settlement_batchline")
    schema_editor.execute("DROP TRIGGER IF EXISTS batchline_guard ON settlement_batchline")
    schema_editor.execute("ALTER TABLE settlement_batchline RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0008_batch_lines_without_party_indexes"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="batchline", name="batch_line_paid_only_when_live_and_funded"),
        migrations.RunPython(_drop_guard_triggers, migrations.RunPython.noop),
        migrations.RemoveField(model_name="batchline", name="paid_at"),
    ]
