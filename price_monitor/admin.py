"""Admin: reference prices are master data, edited with an audit trail."""

from django.contrib import admin

from parties.admin import AuditedModelAdmin
from price_monitor.models import ReferencePrice


@admin.register(ReferencePrice)
class ReferencePriceAdmin(AuditedModelAdmin):
    list_display = ("product", "source", "region", "price", "effective_from")
    list_filter = ("source",)
    search_fields = ("product__code", "product__generic_name", "region__code")
    autocomplete_fields = ("product", "region")
    list_select_related = ("product", "region")
    show_full_result_count = False
