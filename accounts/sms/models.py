"""The verified phone of an account and the codes sent to it (kept hashed, single-use)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class SmsDevice(models.Model):
    """A phone number (E.164) verified by a code: the account's SMS second factor."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sms_device"
    )
    phone = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "accounts"
        verbose_name = "SMS authenticator"

    def __str__(self) -> str:
        return f"SMS to {masked_phone(self.phone)}"


class SmsCode(models.Model):
    """A code sent by SMS: ``setup`` proves a new number, ``login`` is a second factor."""

    class Purpose(models.TextChoices):
        SETUP = "setup"
        LOGIN = "login"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sms_codes"
    )
    phone = models.CharField(max_length=16)
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        app_label = "accounts"
        indexes = [models.Index(fields=["user", "purpose", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} code for {masked_phone(self.phone)}"


def masked_phone(phone: str) -> str:
    """``+4******89``: enough for the owner to recognise the number."""
    if len(phone) <= 5:
        return phone
    return f"{phone[:2]}{'*' * (len(phone) - 4)}{phone[-2:]}"
