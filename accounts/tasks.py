"""Celery tasks of accounts: erasing deleted accounts once their grace period has passed."""

from __future__ import annotations

from celery import shared_task

from accounts.services.erasure import user_erase, users_due_for_erasure


@shared_task(
    name="accounts.erase_account",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
)
def erase_account(user_id: str) -> bool:
    """Erase one account's personal data if it is due; a no-op when it is not (or no longer)
    due, so running it twice or after a reactivation is harmless."""
    return user_erase(user_id=user_id)


@shared_task(name="accounts.erase_due_accounts", ignore_result=True, acks_late=True)
def erase_due_accounts() -> int:
    """Beat task: queue the erasure of every deleted account whose grace period has passed
    (settings.ROSTER["ACCOUNT_ERASURE_GRACE_DAYS"], counted from the deletion)."""
    due = users_due_for_erasure()
    for user_id in due:
        erase_account.delay(str(user_id))
    return len(due)
