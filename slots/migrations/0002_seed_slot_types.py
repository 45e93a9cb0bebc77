from django.db import migrations

WORKSPACE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "cpu": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
        "memory_gb": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4},
        "region": {
            "type": "string",
            "enum": ["eu-west", "eu-central", "us-east", "us-west", "ap-southeast"],
            "default": "eu-west",
        },
    },
}

AGENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["runtime"],
    "properties": {
        "runtime": {"type": "string", "enum": ["python3.11", "python3.12", "node20"]},
        "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 16, "default": 1},
        "labels": {
            "type": "object",
            "maxProperties": 20,
            "propertyNames": {"pattern": "^[a-z][a-z0-9_.-]{0,62}$"},
            "additionalProperties": {"type": "string", "maxLength": 200},
        },
    },
}

SEED = [
    {
        "key": "workspace",
        "name": "Workspace",
        "description": "A development workspace with its own CPU, memory and region.",
        "config_schema": WORKSPACE_SCHEMA,
        "default_limit": 3,
        "credential_kinds": ["api_key", "basic", "oauth"],
        "requires_provisioning": False,
    },
    {
        "key": "agent",
        "name": "Agent slot",
        "description": "A runner for one automation agent; provisioned before it becomes active.",
        "config_schema": AGENT_SCHEMA,
        "default_limit": 5,
        "credential_kinds": ["api_key", "oauth"],
        "requires_provisioning": True,
    },
]


def seed(apps, schema_editor):
    SlotType = apps.get_model("slots", "SlotType")
    for row in SEED:
        SlotType.objects.get_or_create(key=row["key"], defaults=row)


def unseed(apps, schema_editor):
    SlotType = apps.get_model("slots", "SlotType")
    SlotType.objects.filter(key__in=[r["key"] for r in SEED], slots__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("slots", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
