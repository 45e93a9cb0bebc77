"""SMS gateways: ``SMS_BACKEND`` names one by dotted path, as ``EMAIL_BACKEND`` does mail.

- :class:`FileBackend` (the default) writes each message as a JSON file under
  ``SMS_FILE_PATH`` (``$ROSTER_VAR_DIR/sms``), for development and tests.
- :class:`TwilioBackend` posts to Twilio's Messages API (or any gateway speaking its shape):
  ``POST {SMS_TWILIO_BASE_URL}/2010-04-01/Accounts/{sid}/Messages.json`` with basic auth.

A gateway that cannot take a message raises :class:`SmsUnavailable` (the API's 503
``sms_unavailable``); callers send inside their transaction, so nothing is kept of a send
that failed.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import httpx
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.sms.models import masked_phone
from config.errors import DomainError

logger = logging.getLogger(__name__)


class SmsUnavailable(DomainError):
    status_code = 503
    default_code = "sms_unavailable"
    default_detail = "The text message could not be sent. Try again later."
    wait = 30  # Retry-After, as every 503 of the API carries one


class BaseBackend:
    def send(self, *, to: str, body: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class FileBackend(BaseBackend):
    """One JSON file per message (``{"to", "body", "sent_at"}``) under ``SMS_FILE_PATH``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, *, to: str, body: str) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            sent_at = timezone.now()
            name = f"{sent_at:%Y%m%d-%H%M%S-%f}-{uuid.uuid4().hex[:8]}.json"  # sorts by time
            message = {"to": to, "body": body, "sent_at": sent_at.isoformat()}
            (self.path / name).write_text(json.dumps(message), encoding="utf-8")
        except OSError as exc:
            logger.warning("sms file backend failed: %s", type(exc).__name__)
            raise SmsUnavailable() from exc


class TwilioBackend(BaseBackend):
    """Twilio's Messages API: a form POST with basic auth; 2xx is accepted."""

    def __init__(self) -> None:
        self.base_url = settings.SMS_TWILIO_BASE_URL.rstrip("/")
        self.account_sid = settings.SMS_TWILIO_ACCOUNT_SID
        self.auth_token = settings.SMS_TWILIO_AUTH_TOKEN
        self.sender = settings.SMS_TWILIO_FROM
        self.timeout = float(settings.SMS_TIMEOUT)

    def send(self, *, to: str, body: str) -> None:
        if not (self.account_sid and self.auth_token and self.sender):
            logger.error("sms gateway not configured (SMS_TWILIO_ACCOUNT_SID/AUTH_TOKEN/FROM)")
            raise SmsUnavailable()
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        # A Messaging Service SID ("MG...") chooses the sender itself.
        sender_field = "MessagingServiceSid" if self.sender.startswith("MG") else "From"
        try:
            response = httpx.post(
                url,
                data={"To": to, sender_field: self.sender, "Body": body},
                auth=(self.account_sid, self.auth_token),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            logger.warning("sms gateway unreachable: %s", type(exc).__name__)
            raise SmsUnavailable() from exc
        if not response.is_success:
            # The gateway's own error code helps the operator; the body may echo the message.
            try:
                gateway_code = response.json().get("code")
            except ValueError:
                gateway_code = None
            logger.warning(
                "sms gateway refused a message to %s: HTTP %s, code %s",
                masked_phone(to),
                response.status_code,
                gateway_code,
            )
            raise SmsUnavailable()


def get_backend() -> BaseBackend:
    return import_string(settings.SMS_BACKEND)()
