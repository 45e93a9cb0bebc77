"""tests/orgs' world (one person per role; the manager leads the team "Core" of member and
spare) and helpers to ask for a report and have it computed as a worker would."""

from __future__ import annotations

import pytest

from console.reports import services
from tests.orgs.conftest import World, assert_error, jwt_client, key_client, verified, world

__all__ = ["World", "assert_error", "jwt_client", "key_client", "verified", "world"]


@pytest.fixture(autouse=True)
def _reports_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def generate():
    """``generate(actor, organization, **params)``: ask and compute at once (the task's work)."""

    def make(actor, organization, **params):
        params.setdefault("report_type", "team_performance")
        params.setdefault("period", "weekly")
        report = services.report_create(
            actor=actor, organization_id=organization.pk, run=False, **params
        )
        return services.report_run(report_id=report.pk)

    return make
