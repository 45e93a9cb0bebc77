"""The seeded slot types label their config fields in words (migration slots 0003)."""

import importlib
import re

import pytest
from django.apps import apps
from django.urls import reverse

from slots.models import SlotType

pytestmark = pytest.mark.django_db

titles = importlib.import_module("slots.migrations.0003_seed_field_titles")
seed = importlib.import_module("slots.migrations.0002_seed_slot_types")


@pytest.fixture
def seeded_types():
    # The seed as migration 0002 wrote it (another test's flush may have removed it), then 0003.
    SlotType.objects.filter(key__in=titles.TITLES).delete()
    for row in seed.SEED:
        SlotType.objects.create(**row)
    titles.add_titles(apps, None)


def test_the_workspace_form_labels_its_fields_by_their_titles(client, member, seeded_types):
    client.force_login(member)
    page = client.get(reverse("slot-create", args=["workspace"])).content.decode()
    assert re.search(r'<label for="id_config__cpu"[^>]*>\s*CPU cores', page)
    assert re.search(r'<label for="id_config__memory_gb"[^>]*>\s*Memory \(GB\)', page)


def test_a_title_set_since_is_kept(seeded_types):
    workspace = SlotType.objects.get(key="workspace")
    workspace.config_schema["properties"]["cpu"]["title"] = "vCPUs"
    workspace.save()
    titles.add_titles(apps, None)
    schema = SlotType.objects.get(key="workspace").config_schema
    assert schema["properties"]["cpu"]["title"] == "vCPUs"
    assert schema["properties"]["region"]["title"] == "Region"
    agent = SlotType.objects.get(key="agent").config_schema["properties"]
    assert agent["max_concurrency"]["title"] == "Maximum concurrent runs"
