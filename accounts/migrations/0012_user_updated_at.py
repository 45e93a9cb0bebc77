"""``User.updated_at`` (auto_now, indexed): incremental backups take the users changed since
their base by it instead of the whole table.

Existing rows get the time of the migration, not ``date_joined``: an incremental built on a
backup taken before this migration then still holds every user (as it did before, when the
table had no ``updated_at``), so a change made between that backup and the migration is not
missed. From the next incremental on, only changed users go in.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0011_date_format_medium"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="updated_at",
            # One value for every existing row (the default is evaluated once), then dropped.
            field=models.DateTimeField(
                auto_now=True, db_index=True, default=django.utils.timezone.now
            ),
            preserve_default=False,
        ),
    ]
