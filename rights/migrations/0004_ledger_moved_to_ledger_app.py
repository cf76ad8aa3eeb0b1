# The ledger's models moved to the `ledger` app (ledger 0001), which took over their tables: they leave this
# app's state only, and no table is dropped.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        ("market", "0007_licence_ledger_entry_to_ledger_app"),
        ("rights", "0003_treehead_frontier_leaves"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Anchor"),
                migrations.DeleteModel(name="TreeHead"),
                migrations.DeleteModel(name="LedgerEntry"),
            ],
        ),
    ]
