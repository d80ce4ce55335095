"""Django admin for parties (users with role and organisation, master data) and the shared
admin mixins: ``AuditedModelAdmin`` (every change → AuditEntry) and ``ReadOnlyAdmin``
(documents are corrected by new documents, never edited: INTERCHANGE.md)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from parties.models import AuditEntry, Bureau, Enterprise, Hospital, Region, SecurityEvent, User
from parties.services.audit import SOURCE_ADMIN, audit_changes, audit_entry_record


class AuditedModelAdmin(admin.ModelAdmin):
    """Writes an AuditEntry (who, when, field → [old, new]) for every add, change and delete.

    A natural primary key (region code, credit code …) is read-only once the row exists:
    changing it in the form would silently create a second row.
    """

    audit_source = SOURCE_ADMIN

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        pk = self.model._meta.pk
        if obj is not None and not pk.auto_created and pk.editable and pk.name not in fields:
            fields.append(pk.name)
        return fields

    def save_model(self, request, obj, form, change):
        old = type(obj)._default_manager.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        changes = audit_changes(old, obj)
        if changes or not change:
            action = AuditEntry.Action.UPDATE if change else AuditEntry.Action.CREATE
            audit_entry_record(
                user=request.user, instance=obj, action=action, changes=changes, source=self.audit_source
            )

    def delete_model(self, request, obj):
        self._audit_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:  # admin bulk deletes are a handful of rows
            self._audit_delete(request, obj)
        super().delete_queryset(request, queryset)

    def _audit_delete(self, request, obj):
        audit_entry_record(
            user=request.user,
            instance=obj,
            action=AuditEntry.Action.DELETE,
            changes=audit_changes(obj, None),
            source=self.audit_source,
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only. Big tables: no full count, related rows joined in the list."""

    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Region)
class RegionAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "parent", "prefix")
    search_fields = ("code", "name")
    autocomplete_fields = ("parent",)


@admin.register(Enterprise)
class EnterpriseAdmin(AuditedModelAdmin):
    list_display = ("credit_code", "name", "role", "bank_name", "bank_account")
    list_filter = ("role",)
    search_fields = ("credit_code", "name")


@admin.register(Hospital)
class HospitalAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "region", "level", "ownership")
    list_filter = ("level", "ownership")
    search_fields = ("code", "name")
    autocomplete_fields = ("region",)
    list_select_related = ("region",)


@admin.register(Bureau)
class BureauAdmin(AuditedModelAdmin):
    list_display = ("name", "region")
    search_fields = ("name", "region__code", "region__name")
    autocomplete_fields = ("region",)
    list_select_related = ("region",)


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    list_display = ("username", "get_full_name", "role", "organisation_display", "is_active", "is_staff", "last_login")
    list_filter = ("role", "is_active", "is_staff", "is_superuser")
    list_select_related = ("enterprise", "hospital", "bureau")
    search_fields = (
        "username",
        "first_name",
        "last_name",
        "email",
        "hospital__name",
        "enterprise__name",
        "bureau__name",
    )
    autocomplete_fields = ("enterprise", "hospital", "bureau")
    ORG_FIELDSET = (
        _("角色与机构 / role and organisation"),
        {
            "fields": ("role", "enterprise", "hospital", "bureau"),
            "description": _(
                "角色决定所属机构：企业用户→企业，医院用户→医疗机构，经办/审核/价格分析→经办机构，管理员→无。 / The role decides the organisation."
            ),
        },
    )
    fieldsets = (*DjangoUserAdmin.fieldsets[:2], ORG_FIELDSET, *DjangoUserAdmin.fieldsets[2:])
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ORG_FIELDSET)

    @admin.display(description=_("所属机构 / organisation"))
    def organisation_display(self, obj):
        return obj.enterprise or obj.hospital or obj.bureau or "—"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "user", "source", "model", "object_key", "action")
    list_filter = ("action", "model", "source")
    search_fields = ("object_key", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "at"


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "user", "path", "detail")
    list_filter = ("kind",)
    search_fields = ("path", "detail", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "at"
