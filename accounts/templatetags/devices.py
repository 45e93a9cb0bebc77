"""``{{ agent|device }}``: "Chrome on Linux" for a User-Agent (see ``accounts.devices``)."""

from __future__ import annotations

from django import template

from accounts.devices import device_summary

register = template.Library()


@register.filter
def device(user_agent) -> str:
    return device_summary(user_agent)
