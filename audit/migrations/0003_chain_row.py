from django.db import migrations


def create_chain_row(apps, schema_editor):
    # The sealer locks this row; it must exist before two sealers can race to create it.
    apps.get_model("audit", "AuditChain").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_triggers_indexes")]

    operations = [migrations.RunPython(create_chain_row, migrations.RunPython.noop)]
