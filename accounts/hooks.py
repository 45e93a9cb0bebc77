"""What the apps above accounts add to a whole-account export and do on an erasure.

``accounts`` sits below ``slots`` and ``usage`` (and the apps to come) in the layer order
(docs/architecture.md), so it never imports them; yet a person's data export must hold their
slots and usage, and erasing a person must release their slots. The higher apps say so here,
from their ``AppConfig.ready()``:

    register_export_section("slots", slots_export_for_user)   # build(*, user) -> JSON-able
    register_erasure_step(slots_release_owned)                # step(*, user) -> None

The export (``accounts.selectors.user_export``) writes the sections in registration order,
which is ``INSTALLED_APPS`` order, after the account's own sections and before its audit
events. The erasure (``accounts.services.erasure.user_erase``) runs the steps inside its
transaction, with the user row locked, after the account's access is revoked and before its
personal data goes; a step that raises rolls the whole erasure back, and the task retries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ExportSection = Callable[..., Any]
ErasureStep = Callable[..., Any]

_export_sections: dict[str, ExportSection] = {}
_erasure_steps: list[ErasureStep] = []


def register_export_section(name: str, build: ExportSection) -> None:
    """Add ``name: build(user=user)`` to every account export."""
    if name in _export_sections and _export_sections[name] is not build:
        raise ValueError(f"The export section {name!r} is already registered.")
    _export_sections[name] = build


def register_erasure_step(step: ErasureStep) -> None:
    """Run ``step(user=locked_user)`` in every account erasure."""
    if step not in _erasure_steps:
        _erasure_steps.append(step)


def export_sections(*, user) -> dict[str, Any]:
    return {name: build(user=user) for name, build in _export_sections.items()}


def run_erasure_steps(*, user) -> None:
    for step in _erasure_steps:
        step(user=user)
