"""Reports in the background (``console.reports.services``)."""

from __future__ import annotations

from celery import shared_task

from console.reports import services


@shared_task(name="console.run_report", ignore_result=True, acks_late=True)
def run_report(report_id: str) -> None:
    """Compute a pending report. A second run of the same id does nothing."""
    services.report_run(report_id=report_id)
