from django.db import migrations

PLANS = [
    {
        "key": "free",
        "name": "Free",
        "description": "A small team trying Roster out.",
        "seat_limit": 5,
        "features": ["teams"],
        "slot_limits": {"workspace": 1},
        "usage_limits": {"api_calls": 10000},
    },
    {
        "key": "team",
        "name": "Team",
        "description": "A growing organization with teams and just-in-time access.",
        "seat_limit": 50,
        "features": ["teams", "access_requests", "audit_export"],
        "slot_limits": {"workspace": 3, "agent": 2},
        "usage_limits": {"api_calls": 1000000},
    },
    {
        "key": "enterprise",
        "name": "Enterprise",
        "description": "Single sign-on, security policies and room to grow.",
        "seat_limit": 1000,
        "features": ["teams", "access_requests", "audit_export", "sso", "security_policies"],
        "slot_limits": {"workspace": 10, "agent": 10},
        "usage_limits": {"api_calls": 100000000},
    },
]

# The built-in roles as rows (memberships point at them); their permissions are read from
# orgs.catalogue, the one source, never from these rows.
BUILTIN_ROLES = [
    ("owner", "Owner"),
    ("admin", "Admin"),
    ("manager", "Manager"),
    ("member", "Member"),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("orgs", "Plan")
    Role = apps.get_model("orgs", "Role")
    for row in PLANS:
        Plan.objects.get_or_create(key=row["key"], defaults=row)
    for key, name in BUILTIN_ROLES:
        Role.objects.get_or_create(
            organization=None, key=key, defaults={"name": name, "builtin": True}
        )


def unseed(apps, schema_editor):
    apps.get_model("orgs", "Role").objects.filter(organization=None, builtin=True).delete()
    apps.get_model("orgs", "Plan").objects.filter(key__in=[p["key"] for p in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("orgs", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
