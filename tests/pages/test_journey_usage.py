"""Journey 5, usage: totals, chart and quota bar after events are ingested."""

import pytest

from tests.pages.conftest import open_account_page, screenshot, sign_in, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "amber-harbour-58-owls"


def test_usage_totals_and_chart_after_ingestion(page, site):
    from usage.models import Meter
    from usage.services import usage_events_ingest

    user = verified_user("usage@example.com", PASSWORD)
    Meter.objects.create(key="api.calls", name="API calls", unit="calls", limit=1000)
    usage_events_ingest(
        caller=user,
        body={"events": [{"meter": "api.calls", "quantity": q} for q in (120, 80, 50)]},
    )
    sign_in(page, site.url, "usage@example.com", PASSWORD)
    open_account_page(page, "Usage")
    row = page.get_by_test_id("usage-totals").locator('tr[data-meter="api.calls"]')
    assert row.locator("td").all_inner_texts() == ["250", "250", "250"]
    chart = page.get_by_test_id("usage-chart")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() >= 24
    tallest = max(
        float(h)
        for h in chart.locator("rect.bar").evaluate_all("b => b.map(r => r.getAttribute('height'))")
    )
    assert tallest > 0
    quota = page.get_by_test_id("quota").filter(has_text="API calls")
    assert "250 of 1000" in quota.inner_text()
    assert quota.locator("progress").get_attribute("value") == "25"
    screenshot(page, "journey5-usage")
