from django.db import migrations

METERS = [
    ("api.requests", "API requests", "requests", "count", "Requests made to the service."),
    ("tokens.input", "Input tokens", "tokens", "sum", "Tokens sent to a model."),
    ("tokens.output", "Output tokens", "tokens", "sum", "Tokens produced by a model."),
    ("compute.seconds", "Compute time", "seconds", "sum", "Compute time used by slots."),
]


def seed_meters(apps, schema_editor):
    Meter = apps.get_model("usage", "Meter")
    for key, name, unit, aggregation, description in METERS:
        Meter.objects.get_or_create(
            key=key,
            defaults={
                "name": name,
                "unit": unit,
                "aggregation": aggregation,
                "description": description,
            },
        )


def unseed_meters(apps, schema_editor):
    # Meters with events are protected; only untouched seeds go away.
    Meter = apps.get_model("usage", "Meter")
    UsageEvent = apps.get_model("usage", "UsageEvent")
    used = set(UsageEvent.objects.values_list("meter_id", flat=True).distinct())
    Meter.objects.filter(key__in=[m[0] for m in METERS]).exclude(id__in=used).delete()


def add_brin_index(apps, schema_editor):
    # Retention and system-wide stats scan events by time; on PostgreSQL a BRIN index
    # does that for a few pages of index and almost no cost at insert time.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS usageevent_time_brin "
            "ON usage_usageevent USING brin (occurred_at)"
        )


def drop_brin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS usageevent_time_brin")


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed_meters, unseed_meters),
        migrations.RunPython(add_brin_index, drop_brin_index),
    ]
