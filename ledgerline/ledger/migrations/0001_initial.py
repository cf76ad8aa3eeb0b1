# The ledger's models moved here from the `rights` app. Their tables were created by rights 0001-0003 and keep
# their names (Meta.db_table), so this migration creates the models in Django's state only and no row moves.
# Their content types (and with them admin permissions and log entries) are relabelled rather than recreated.

import django.db.models.deletion
from django.db import migrations, models

MODELS = ("ledgerentry", "treehead", "anchor")


def relabel_content_types(apps, schema_editor, *, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(schema_editor.connection.alias).filter(app_label=old, model__in=MODELS).update(
        app_label=new
    )


def forwards(apps, schema_editor):
    relabel_content_types(apps, schema_editor, old="rights", new="ledger")


def backwards(apps, schema_editor):
    relabel_content_types(apps, schema_editor, old="ledger", new="rights")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("rights", "0003_treehead_frontier_leaves"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LedgerEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("index", models.BigIntegerField(unique=True)),
                        ("event", models.CharField(db_index=True, max_length=64)),
                        ("subject_type", models.CharField(max_length=64)),
                        ("subject_id", models.CharField(max_length=64)),
                        ("private", models.BooleanField(default=False)),
                        ("payload", models.JSONField(default=dict)),
                        ("canonical", models.TextField()),
                        ("leaf_hash", models.CharField(max_length=64)),
                        ("created_at", models.DateTimeField()),
                        (
                            "organisation",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="ledger_entries",
                                to="accounts.organisation",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rights_ledgerentry",
                        "ordering": ["index"],
                        "indexes": [
                            models.Index(fields=["subject_type", "subject_id"], name="rights_ledg_subject_0c3432_idx")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="TreeHead",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("tree_size", models.BigIntegerField(unique=True)),
                        ("root_hash", models.CharField(max_length=64)),
                        ("timestamp_ms", models.BigIntegerField()),
                        ("signature", models.CharField(help_text="base64 Ed25519 signature", max_length=100)),
                        ("public_key", models.TextField(help_text="PEM of the key that signed it")),
                        (
                            "frontier",
                            models.BinaryField(
                                help_text="32-byte roots of the tree's complete right-edge subtrees, largest first",
                                null=True,
                            ),
                        ),
                        (
                            "leaves",
                            models.BinaryField(
                                help_text="32-byte leaf hashes of the entries this head added to the previous one",
                                null=True,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "rights_treehead",
                        "ordering": ["tree_size"],
                    },
                ),
                migrations.CreateModel(
                    name="Anchor",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("anchored", "Anchored"),
                                    ("failed", "Failed, will retry"),
                                ],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("chain_id", models.BigIntegerField(blank=True, null=True)),
                        ("contract", models.CharField(blank=True, max_length=42)),
                        ("tx_hash", models.CharField(blank=True, max_length=66)),
                        ("block_number", models.BigIntegerField(blank=True, null=True)),
                        (
                            "provider",
                            models.CharField(blank=True, help_text="'dev' or the JSON-RPC URI", max_length=200),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("anchored_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "tree_head",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT, related_name="anchor", to="ledger.treehead"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rights_anchor",
                        "ordering": ["tree_head__tree_size"],
                    },
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
