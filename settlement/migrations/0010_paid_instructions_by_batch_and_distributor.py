"""Whether a batch line is paid is asked of its (batch, distributor)'s paid instruction
(BatchLineQuerySet.paid), once per line in the receivables, line-stage and alert reads.
This small partial index answers it without reading the instruction row: on the L data
set the largest enterprise's receivables 0.66–0.78 s with it against 0.73–0.87 s without
(noisy: three and two trials)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("parties", "0002_user_role_required"),
        ("settlement", "0009_batch_line_paid_by_its_instruction"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="paymentinstruction",
            index=models.Index(
                condition=models.Q(("status", "paid")),
                fields=["batch", "distributor"],
                name="instruction_paid_batch_dist",
            ),
        ),
    ]
