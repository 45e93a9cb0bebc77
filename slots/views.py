"""Slot pages: list, create from a slot type, rename and configure, lifecycle, credentials.

Every write calls ``slots.services``; the rules (quota, schema, status machine, who may act)
live there and nowhere here.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.errors import DomainError
from slots import selectors, services
from slots.forms import (
    CONFIG_PREFIX,
    CREDENTIAL_KIND_LABELS,
    SlotConfigForm,
    SlotCreateForm,
    SlotCredentialsForm,
    SlotRenameForm,
)
from slots.lifecycle import SlotStatus

OWNER_ACTIONS = {"suspend": services.slot_suspend, "resume": services.slot_resume}


def _show_errors(form, exc: DomainError | ValidationError) -> None:
    """Put a service's errors next to the fields they name (``config.cpu`` → its input)."""
    if isinstance(exc, DomainError):
        items = [(exc.attr, [exc.detail])]
    elif hasattr(exc, "error_dict"):
        items = [
            (attr, [m for e in errs for m in e.messages]) for attr, errs in exc.error_dict.items()
        ]
    else:
        items = [(None, exc.messages)]
    for attr, texts in items:
        field = attr
        if attr and attr.startswith("config."):
            top = attr.split(".")[1]
            field = CONFIG_PREFIX + top
            if field in form.fields and attr.count(".") > 1:
                texts = [f"{attr[len('config.') :]}: {t}" for t in texts]
        for text in texts:
            form.add_error(field if field in form.fields else None, text)


def _own_slot(request: HttpRequest, slot_id) -> object:
    """The caller's own slot; anyone else's is a 404, never a 403."""
    return get_object_or_404(selectors.slot_list(owner=request.user), pk=slot_id)


@login_required
def slot_list(request: HttpRequest) -> HttpResponse:
    show_released = request.GET.get("status") == SlotStatus.RELEASED
    slots = selectors.slot_list(owner=request.user).order_by("-created_at")
    if show_released:
        slots = slots.filter(status=SlotStatus.RELEASED)
    else:
        slots = slots.exclude(status=SlotStatus.RELEASED)
    return render(
        request,
        "roster/slots/list.html",
        {
            "slots": slots,
            "types": selectors.slot_types_available(),
            "show_released": show_released,
        },
    )


@login_required
def slot_create(request: HttpRequest, type_key: str) -> HttpResponse:
    slot_type = selectors.slot_types_available().filter(key=type_key).first()
    if slot_type is None:
        raise Http404("No such slot type.")
    schema = slot_type.config_schema or {}
    if request.method == "POST":
        form = SlotCreateForm(request.POST, schema=schema)
        if form.is_valid():
            try:
                slot = services.slot_create(
                    owner=request.user,
                    type=slot_type,
                    name=form.cleaned_data["name"],
                    config=form.config(),
                    actor=request.user,
                    request=request,
                )
            except (DomainError, ValidationError) as exc:
                _show_errors(form, exc)
            else:
                messages.success(request, f"Slot “{slot.name}” created.")
                return redirect("slot-detail", slot_id=slot.pk)
    else:
        form = SlotCreateForm(schema=schema)
    return render(
        request,
        "roster/slots/create.html",
        {"form": form, "slot_type": slot_type},
        status=400 if form.errors else 200,
    )


def _detail(request, slot, *, rename=None, config=None, credentials=None, status=200):
    schema = slot.type.config_schema or {}
    credential = getattr(slot, "credential", None)
    context = {
        "slot": slot,
        "credentials": selectors.credentials_summary(slot),
        # The stored credential: its kind in words and when it was set.
        "credential": credential,
        "credential_kind": CREDENTIAL_KIND_LABELS.get(credential.kind, credential.kind)
        if credential
        else None,
        "rename_form": rename or SlotRenameForm(initial={"name": slot.name}),
        "config_form": config
        or SlotConfigForm(schema=schema, initial=SlotConfigForm.initial_from(slot.config)),
        "credentials_form": credentials or SlotCredentialsForm(kinds=slot.type.credential_kinds),
        "can_suspend": slot.status == SlotStatus.ACTIVE,
        "can_resume": slot.status == SlotStatus.SUSPENDED,
    }
    return render(request, "roster/slots/detail.html", context, status=status)


@login_required
def slot_detail(request: HttpRequest, slot_id) -> HttpResponse:
    return _detail(request, _own_slot(request, slot_id))


@require_POST
@login_required
def slot_rename(request: HttpRequest, slot_id) -> HttpResponse:
    slot = _own_slot(request, slot_id)
    form = SlotRenameForm(request.POST)
    if form.is_valid():
        try:
            services.slot_update(
                slot=slot, name=form.cleaned_data["name"], actor=request.user, request=request
            )
        except (DomainError, ValidationError) as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, f"Slot renamed to “{slot.name}”.")
            return redirect("slot-detail", slot_id=slot.pk)
    return _detail(request, slot, rename=form, status=400)


@require_POST
@login_required
def slot_configure(request: HttpRequest, slot_id) -> HttpResponse:
    slot = _own_slot(request, slot_id)
    form = SlotConfigForm(request.POST, schema=slot.type.config_schema or {})
    if form.is_valid():
        try:
            services.slot_update(
                slot=slot, config=form.config(), actor=request.user, request=request
            )
        except (DomainError, ValidationError) as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, "Configuration saved.")
            return redirect("slot-detail", slot_id=slot.pk)
    return _detail(request, slot, config=form, status=400)


@require_POST
@login_required
def slot_action(request: HttpRequest, slot_id, action: str) -> HttpResponse:
    slot = _own_slot(request, slot_id)
    try:
        if action == "release":
            services.slot_release(slot=slot, actor=request.user, request=request)
        elif action in OWNER_ACTIONS:
            OWNER_ACTIONS[action](slot=slot, actor=request.user, request=request)
        else:
            raise Http404("No such action.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        done = {"release": "released", "suspend": "suspended", "resume": "resumed"}[action]
        messages.success(request, f"Slot “{slot.name}” {done}.")
    return redirect("slot-detail", slot_id=slot.pk)


@require_POST
@login_required
def slot_credentials(request: HttpRequest, slot_id) -> HttpResponse:
    slot = _own_slot(request, slot_id)
    if "remove" in request.POST:
        try:
            removed = services.slot_credentials_clear(
                slot=slot, actor=request.user, request=request
            )
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(
                request, "Credentials removed." if removed else "There were no credentials."
            )
        return redirect("slot-detail", slot_id=slot.pk)
    form = SlotCredentialsForm(request.POST, kinds=slot.type.credential_kinds)
    if form.is_valid():
        try:
            services.slot_credentials_set(
                slot=slot, credentials=form.credentials(), actor=request.user, request=request
            )
        except DomainError as exc:
            _show_errors(form, exc)
        else:
            messages.success(
                request, "Credentials saved. They are stored encrypted and never shown again."
            )
            return redirect("slot-detail", slot_id=slot.pk)
    return _detail(request, slot, credentials=form, status=400)
