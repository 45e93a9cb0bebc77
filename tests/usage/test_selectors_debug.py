"""Stats must also work where Django logs SQL (DEBUG on, query-count assertions)."""

import pytest

from usage import selectors


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["1h", "24h", "7d", "30d"])
def test_usage_totals_and_stats_work_with_query_logging(
    period, member, settings, django_assert_max_num_queries
):
    settings.DEBUG = True
    with django_assert_max_num_queries(20):
        totals = selectors.usage_totals(user=None, period=period)
        selectors.usage_totals(user=member, period=period)
    assert isinstance(totals, dict)
