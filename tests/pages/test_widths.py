"""Tables at any width: every account page and the admin dashboard, at 360 px and 1280 px, keep
each word of a table cell on one line (no letter per line, no "Expi-res"), and no page scrolls
sideways (a table wider than the screen scrolls inside its wrapper). Screenshots of every page
at both widths go to the test's tmp_path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import apikeys
from audit.services import record
from slots import services as slot_services
from tests.pages.conftest import browser_login, verified_user
from usage.models import Meter
from usage.services import usage_events_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (360, 1280)

# Every word (a run without white space) of every table cell, as [cell text, word, lines]
# when it takes more than one line box: a word split inside itself gets one client rect per
# line it covers.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('th, td')) {
    if (!cell.getClientRects().length) continue;  // not rendered
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (parent.closest('.visually-hidden, details:not([open]) > :not(summary)')) continue;
      const re = /\\S+/g;
      let match;
      while ((match = re.exec(node.data)) !== null) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()]
          .filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push([cell.textContent.trim().slice(0, 60), match[0], tops.size]);
      }
    }
  }
  return broken;
}"""

# Tables whose wrapper is wider than the page, or that overflow a wrapper that cannot scroll.
OVERFLOWING_TABLES = """() => [...document.querySelectorAll('table')].filter(table => {
  const box = table.parentElement;
  const style = getComputedStyle(box);
  const scrolls = ['auto', 'scroll'].includes(style.overflowX);
  const right = box.getBoundingClientRect().right;
  return right > document.documentElement.clientWidth + 1
    || (!scrolls && table.getBoundingClientRect().right > right + 1);
}).map(table => table.querySelector('th') ? table.querySelector('th').textContent.trim() : '?')"""


def _rows_for(user):
    """Enough of everything that each table has rows, with long words in them."""
    for name in ("deploy-bot-production-eu-west", "ci"):
        apikeys.api_key_create(
            user=user,
            name=name,
            scopes=["profile:read", "slots:read", "usage:read"],
            expires_at=timezone.now() + timedelta(days=30),
            actor=user,
        )
    slot_services.slot_create(
        owner=user, type="agent", name="runner", config={"runtime": "node20"}, actor=user
    )
    Meter.objects.get_or_create(
        key="api.calls", defaults={"name": "API calls", "unit": "calls", "limit": 1000}
    )
    usage_events_ingest(caller=user, body={"events": [{"meter": "api.calls", "quantity": 3}]})
    record(action="user.profile.updated", actor=user, target=user)
    _access_rows(user)


def _access_rows(user):
    """An organization the user owns, with a resource, a request waiting for them, one of
    theirs approved (a grant) and one they approved."""
    from access.services import requests, resources
    from orgs.services import members, organizations

    colleague = verified_user(f"colleague.{user.email}", "a passphrase for widths 42")
    org = organizations.org_create(name="Widths Deployment Group", actor=user)
    members.member_add(organization=org, actor=user, user=colleague, roles=["admin"])
    resources.resource_create(
        organization=org,
        actor=user,
        key="deploy-pipeline-production-eu-west",
        name="Deployment pipeline (production, eu-west)",
        levels=["read", "write", "administer"],
        approvers={"roles": ["owner", "admin"], "teams": [], "users": []},
    )

    def ask(who, level):
        return requests.request_submit(
            organization=org,
            requester=who,
            resource="deploy-pipeline-production-eu-west",
            access_level=level,
            justification="Rotate the deployment credentials of the eu-west pipeline",
            duration_days=7,
        )

    requests.request_review(access_request=ask(user, "read"), reviewer=colleague, action="approve")
    requests.request_review(
        access_request=ask(colleague, "read"),
        reviewer=user,
        action="approve",
        conditions={"duration_days": 2},
        comments="Two days for the rotation",
    )
    ask(colleague, "administer")


def _account_paths(user) -> list[str]:
    from slots.models import Slot

    slot = Slot.objects.filter(owner=user).first()
    return [
        reverse("account-overview"),
        reverse("account-profile"),
        reverse("account-settings"),
        reverse("account-api-keys"),
        reverse("account-sessions"),
        reverse("slots-list"),
        reverse("slot-detail", args=[slot.pk]),
        reverse("usage-overview"),
        reverse("account-security-log"),
        reverse("account-data"),
        reverse("account_email"),
        reverse("mfa_index"),
        reverse("usersessions_list"),
        *_access_paths(user),
    ]


def _access_paths(user) -> list[str]:
    from access.models import AccessRequest
    from orgs.models import Organization

    org = Organization.objects.filter(memberships__user=user).first()
    if org is None:
        return []
    pending = AccessRequest.objects.filter(organization=org, status="pending").first()
    approved = AccessRequest.objects.filter(organization=org, status="approved").first()
    return [
        reverse("access-home"),
        reverse("access-request-new"),
        reverse("access-reviews"),
        reverse("access-request", args=[pending.pk]),
        reverse("access-request", args=[approved.pk]),
        reverse("org-access-resources", args=[org.pk]),
        reverse("org-access-grants", args=[org.pk]),
        reverse("org-access-policies", args=[org.pk]),
        reverse("org-access-policy", args=[org.pk, "password"]),
    ]


def _check(page, url: str, width: int, shots, name: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url)
    page.screenshot(path=str(shots / f"{name}-{width}px.png"), full_page=True)
    broken = page.evaluate(BROKEN_WORDS)
    assert broken == [], (url, width, broken)
    overflowing = page.evaluate(OVERFLOWING_TABLES)
    assert overflowing == [], (url, width, overflowing)
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= width, (url, width, scroll_width)


def test_account_tables_read_at_360_and_1280_px(page, site, tmp_path):
    user = verified_user(
        "widths.check@example.com", "a passphrase for widths 42", display_name="Width Check"
    )
    _rows_for(user)
    browser_login(page, site.url, user)
    checked = 0
    for path in _account_paths(user):
        name = path.strip("/").replace("/", "-") or "home"
        for width in WIDTHS:
            _check(page, site.url + path, width, tmp_path, name)
            checked += 1
    assert checked == 2 * len(_account_paths(user))
    assert len(list(tmp_path.glob("*.png"))) == checked


def test_admin_dashboard_tables_read_at_360_and_1280_px(page, site, tmp_path):
    admin = verified_user("widths.admin@example.com", "a passphrase for widths 42", roles=["admin"])
    _rows_for(admin)
    browser_login(page, site.url, admin)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(site.url + reverse("admin:index"))
        assert page.locator("#roster-dashboard").is_visible()
        page.screenshot(path=str(tmp_path / f"admin-dashboard-{width}px.png"), full_page=True)
        broken = page.evaluate(BROKEN_WORDS)
        assert broken == [], (width, broken)
        overflowing = page.evaluate(OVERFLOWING_TABLES)
        assert overflowing == [], (width, overflowing)
