"""Admin: settlement documents are browse-only (corrected by new documents, never edited)."""

from django.contrib import admin

from parties.admin import ReadOnlyAdmin
from settlement.models import FundAllocation, InvoiceLine, Statement, StatementEvent


@admin.register(InvoiceLine)
class InvoiceLineAdmin(ReadOnlyAdmin):
    list_display = (
        "display_no",
        "line_no",
        "kind",
        "hospital",
        "distributor",
        "qty",
        "amount",
        "match_status",
        "issued_at",
    )
    list_filter = ("kind", "match_status")
    search_fields = ("=invoice_no", "=delivery_no")
    list_select_related = ("hospital", "distributor")
    date_hierarchy = "issued_at"


@admin.register(FundAllocation)
class FundAllocationAdmin(ReadOnlyAdmin):
    list_display = ("hospital", "period", "amount")
    list_filter = ("period",)
    search_fields = ("hospital__code", "hospital__name")
    list_select_related = ("hospital",)


class StatementEventInline(admin.TabularInline):
    model = StatementEvent
    extra = 0
    can_delete = False
    fields = ("at", "user", "action", "from_status", "to_status", "reason", "invoice_line")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ("no", "hospital", "distributor", "period", "sequence", "status", "deadline", "confirmed_at")
    list_filter = ("status", "period")
    search_fields = ("=no", "hospital__code", "hospital__name")
    list_select_related = ("hospital", "distributor")
    inlines = (StatementEventInline,)
