"""Admin: the catalogue and procurement set-up are edited with an audit trail; purchase
documents (orders, deliveries/receipts, prepayments) are browse-only."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from parties.admin import AuditedModelAdmin, ReadOnlyAdmin
from procurement.models import Agreement, Award, DeliveryLine, OrderLine, Prepayment, Product, Round


@admin.register(Product)
class ProductAdmin(AuditedModelAdmin):
    list_display = ("code", "category", "generic_name", "specification", "package", "units_per_package", "manufacturer")
    list_filter = ("category",)
    search_fields = ("code", "generic_name")
    autocomplete_fields = ("manufacturer",)
    list_select_related = ("manufacturer",)


@admin.register(Round)
class RoundAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "level", "category", "start_date", "end_date")
    list_filter = ("level", "category")
    search_fields = ("code", "name")


@admin.register(Award)
class AwardAdmin(AuditedModelAdmin):
    list_display = ("round", "product", "enterprise", "supply_region", "award_price")
    list_filter = ("round",)
    search_fields = ("product__code", "product__generic_name", "enterprise__name", "supply_region__code")
    autocomplete_fields = ("round", "product", "enterprise", "supply_region")
    list_select_related = ("round", "product", "enterprise", "supply_region")


@admin.register(Agreement)
class AgreementAdmin(AuditedModelAdmin):
    list_display = ("round", "hospital", "product", "year_start", "year_end", "agreed_qty")
    list_filter = ("round", "year_start")
    search_fields = ("hospital__code", "hospital__name", "product__code")
    autocomplete_fields = ("round", "hospital", "product")
    list_select_related = ("round", "hospital", "product")
    show_full_result_count = False


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = ("order_no", "line_no", "hospital", "distributor", "product", "qty", "unit_price", "order_date")
    search_fields = ("=order_no",)
    list_select_related = ("hospital", "distributor", "product")
    date_hierarchy = "order_date"


@admin.register(DeliveryLine)
class DeliveryLineAdmin(ReadOnlyAdmin):
    list_display = (
        "delivery_no",
        "line_no",
        "order_line",
        "qty",
        "delivery_date",
        "accepted_qty",
        "rejected_qty",
        "accepted_date",
    )
    search_fields = ("=delivery_no", "=order_line__order_no")
    list_select_related = ("order_line",)
    date_hierarchy = "delivery_date"

    @admin.display(description=_("订单明细 / order line"))
    def order_line(self, obj):  # key, not the default "OrderLine object (n)"
        return obj.order_line.key


@admin.register(Prepayment)
class PrepaymentAdmin(ReadOnlyAdmin):
    list_display = ("hospital", "year_start", "amount", "paid_at", "paid_by")
    list_filter = ("year_start",)
    search_fields = ("hospital__code", "hospital__name")
    list_select_related = ("hospital", "paid_by")
