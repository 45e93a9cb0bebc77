"""Admin for slot types (editable data) and slots (read-only; lifecycle actions call the
services, so the quota, the status machine and the audit trail are the API's own)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin_mixins import AuditedModelAdmin
from config.errors import DomainError
from slots import services
from slots.lifecycle import LIVE_STATUSES
from slots.models import CredentialKind, Slot, SlotType
from slots.selectors import credentials_summary


class SlotTypeForm(forms.ModelForm):
    credential_kinds = forms.MultipleChoiceField(
        choices=CredentialKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Credential kinds slots of this type accept.",
    )

    class Meta:
        model = SlotType
        fields = (
            "key",
            "name",
            "description",
            "config_schema",
            "default_limit",
            "credential_kinds",
            "requires_provisioning",
            "is_enabled",
        )


@admin.register(SlotType)
class SlotTypeAdmin(AuditedModelAdmin):
    form = SlotTypeForm
    list_display = (
        "key",
        "name",
        "default_limit",
        "requires_provisioning",
        "is_enabled",
        "live_slots",
    )
    list_filter = ("is_enabled", "requires_provisioning")
    search_fields = ("key", "name")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(live_slot_count=Count("slots", filter=Q(slots__status__in=LIVE_STATUSES)))
        )

    @admin.display(description=_("live slots"), ordering="live_slot_count")
    def live_slots(self, obj: SlotType) -> int:
        return obj.live_slot_count

    def has_delete_permission(self, request, obj=None) -> bool:
        # A type with slots (even released ones) is history; disable it instead.
        if obj is not None and obj.slots.exists():
            return False
        return super().has_delete_permission(request, obj)


def _done(verb: str, count: int) -> str:
    # Whole sentences per action, each translated as one: an English verb inside a
    # translated count would read as neither language.
    if verb == "activate":
        text = ngettext("%(count)d slot activated.", "%(count)d slots activated.", count)
    elif verb == "suspend":
        text = ngettext("%(count)d slot suspended.", "%(count)d slots suspended.", count)
    elif verb == "resume":
        text = ngettext("%(count)d slot resumed.", "%(count)d slots resumed.", count)
    else:
        text = ngettext("%(count)d slot released.", "%(count)d slots released.", count)
    return text % {"count": count}


def _refused(verb: str, count: int) -> str:
    if verb == "activate":
        text = ngettext("%(count)d slot not activated: ", "%(count)d slots not activated: ", count)
    elif verb == "suspend":
        text = ngettext("%(count)d slot not suspended: ", "%(count)d slots not suspended: ", count)
    elif verb == "resume":
        text = ngettext("%(count)d slot not resumed: ", "%(count)d slots not resumed: ", count)
    else:
        text = ngettext("%(count)d slot not released: ", "%(count)d slots not released: ", count)
    return text % {"count": count}


def _run_lifecycle(modeladmin, request, queryset, verb: str) -> None:
    done, refused = 0, []
    for slot in queryset:
        try:
            services.slot_transition(slot=slot, action=verb, actor=request.user, request=request)
            done += 1
        except DomainError as exc:
            refused.append(f"{slot.name}: {exc.detail}")
    if done:
        modeladmin.message_user(request, _done(verb, done), messages.SUCCESS)
    if refused:
        modeladmin.message_user(
            request, _refused(verb, len(refused)) + "; ".join(refused[:10]), messages.WARNING
        )


@admin.register(Slot)
class SlotAdmin(AuditedModelAdmin):
    list_display = (
        "name",
        "owner",
        "type",
        "status",
        "last_active_at",
        "created_at",
        "credentials",
    )
    list_filter = ("status", "type")
    search_fields = ("name", "owner__email", "=id")
    list_select_related = ("owner", "type", "credential")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "owner",
        "type",
        "name",
        "status",
        "config",
        "credentials",
        "created_at",
        "updated_at",
        "last_active_at",
        "status_changed_at",
        "released_at",
    )
    readonly_fields = fields
    actions = ("activate_slots", "suspend_slots", "resume_slots", "release_slots")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner", "type", "credential")

    # Slots are created through the API (quota, schema) and released, never deleted.
    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("credentials"))
    def credentials(self, obj: Slot) -> str:
        summary = credentials_summary(obj)
        if not summary["configured"]:
            return "not configured"
        hint = f" …{summary['hint']}" if summary["hint"] else ""
        return f"{summary['kind']}{hint}"

    @admin.action(
        description=_("Activate selected slots (provisioning → active)"), permissions=["change"]
    )
    def activate_slots(self, request, queryset):
        _run_lifecycle(self, request, queryset, "activate")

    @admin.action(description=_("Suspend selected slots"), permissions=["change"])
    def suspend_slots(self, request, queryset):
        _run_lifecycle(self, request, queryset, "suspend")

    @admin.action(description=_("Resume selected slots"), permissions=["change"])
    def resume_slots(self, request, queryset):
        _run_lifecycle(self, request, queryset, "resume")

    @admin.action(description=_("Release selected slots (final)"), permissions=["change"])
    def release_slots(self, request, queryset):
        _run_lifecycle(self, request, queryset, "release")
