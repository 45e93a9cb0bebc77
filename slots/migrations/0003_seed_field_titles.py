"""The seeded slot types' config fields get titles, which the slot pages use as labels ("CPU
cores" rather than "Cpu"). Only a field still without a title is given one: a title an admin
has set since is kept."""

from django.db import migrations

TITLES = {
    "workspace": {"cpu": "CPU cores", "memory_gb": "Memory (GB)", "region": "Region"},
    "agent": {
        "runtime": "Runtime",
        "max_concurrency": "Maximum concurrent runs",
        "labels": "Labels",
    },
}


def add_titles(apps, schema_editor):
    SlotType = apps.get_model("slots", "SlotType")
    for slot_type in SlotType.objects.filter(key__in=TITLES):
        properties = (slot_type.config_schema or {}).get("properties") or {}
        changed = False
        for field, title in TITLES[slot_type.key].items():
            spec = properties.get(field)
            if isinstance(spec, dict) and "title" not in spec:
                spec["title"] = title
                changed = True
        if changed:
            slot_type.save(update_fields=["config_schema"])


class Migration(migrations.Migration):
    dependencies = [("slots", "0002_seed_slot_types")]

    operations = [migrations.RunPython(add_titles, migrations.RunPython.noop)]
