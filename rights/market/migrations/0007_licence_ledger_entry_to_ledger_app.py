# The ledger's models moved to the `ledger` app with their tables unchanged: the foreign key's column and
# constraint stay as they are, only Django's state follows the model.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        ("market", "0006_sale_audio_format"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="licence",
                    name="ledger_entry",
                    field=models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.ledgerentry",
                    ),
                ),
            ],
        ),
    ]
