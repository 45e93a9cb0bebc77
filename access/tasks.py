from __future__ import annotations

from celery import shared_task

from access.services.requests import access_expire_due


@shared_task(name="access.expire_due", ignore_result=True, acks_late=True)
def expire_due() -> dict[str, int]:
    """Beat task: grants past their end are marked expired, requests past their decision date
    lapsed, holders warned a day before. Checks never wait for it (they compare the time)."""
    return access_expire_due()
