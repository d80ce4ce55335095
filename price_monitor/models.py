"""Reference prices (listing, province/national minimum, retail, baseline); rules and
alerts for price anomalies build on these."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from parties.models import Region
from procurement.models import Product, unit_price_field


class PriceSource(models.TextChoices):
    LISTING = "listing", _("本省挂网价 / listing price")
    PROVINCE_MIN = "province_min", _("外省最低价 / lowest other-province price")
    NATIONAL_MIN = "national_min", _("全国最低价 / lowest national price")
    RETAIL = "retail", _("定点药店零售价 / pharmacy retail price")
    BASELINE = "baseline", _("集采前加权平均价 / pre-procurement baseline")


class ReferencePrice(models.Model):
    """A price in force from ``effective_from`` until the next one of the same product, source and region."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reference_prices")
    source = models.CharField(_("来源 / source"), max_length=12, choices=PriceSource.choices)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="reference_prices")
    price = unit_price_field(_("价格(元/包装) / price"))
    effective_from = models.DateField(_("生效日期 / effective from"))

    class Meta:
        verbose_name = _("参考价格 / reference price")
        verbose_name_plural = _("参考价格 / reference prices")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "source", "region", "effective_from"], name="reference_price_natural_key"
            ),
            models.CheckConstraint(name="reference_price_positive", condition=Q(price__gt=0)),
        ]


class ObservationSource(models.TextChoices):
    """Where a price observation comes from: a transaction or one of the reference sources."""

    ORDER = "order", _("订单价 / order price")
    INVOICE = "invoice", _("发票价 / invoice price")
    LISTING = "listing", _("本省挂网价 / listing price")
    PROVINCE_MIN = "province_min", _("外省最低价 / lowest other-province price")
    NATIONAL_MIN = "national_min", _("全国最低价 / lowest national price")
    RETAIL = "retail", _("定点药店零售价 / pharmacy retail price")
    BASELINE = "baseline", _("集采前加权平均价 / pre-procurement baseline")


TRANSACTION_SOURCES = (ObservationSource.ORDER, ObservationSource.INVOICE)


class PriceObservation(models.Model):
    """One price seen in the data, per package and per minimal unit (片/支/粒/个).

    Built set-based from order lines, invoice lines and reference prices
    (price_monitor.services.observations), one row per source row, kept in step per
    (region, month) partition. Money is integer:

    - ``price_units``: yuan per package in 1/10,000 yuan (the 4 decimals of a unit price, exact);
    - ``unit_price_micro``: yuan per minimal unit in 1/1,000,000 yuan, i.e.
      round_half_up(price_units × 100 / units_per_package), so products of one generic
      name, dosage form and specification (``comparable_key``) compare across package sizes.
    """

    source = models.CharField(_("来源 / source"), max_length=12, choices=ObservationSource.choices)
    source_id = models.BigIntegerField()  # pk of the OrderLine / InvoiceLine / ReferencePrice
    # Derived rows: no FK constraints (master data may be corrected under them; a rebuild
    # follows) and no per-FK indexes (every read goes through the two indexes below).
    product = models.ForeignKey(
        Product, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    category = models.CharField(max_length=10)  # drug / consumable, copied from the product
    # generic_name|dosage_form|specification: the comparable group across package sizes.
    comparable_key = models.CharField(max_length=410)
    units_per_package = models.PositiveIntegerField()
    # Transactions: the hospital's region code; reference prices: the price's region.
    region_code = models.CharField(max_length=6)
    hospital = models.ForeignKey(
        "parties.Hospital",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    # The distributor (seller) of a transaction; blank for reference prices.
    enterprise = models.ForeignKey(
        "parties.Enterprise",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    period = models.CharField(max_length=7)  # YYYY-MM of observed_on
    observed_on = models.DateField()  # order date (Asia/Shanghai), invoice issue date or effective_from
    qty = models.IntegerField(
        null=True, blank=True
    )  # packages; negative on red invoice lines; null for reference prices
    price_units = models.BigIntegerField()  # 1/10,000 yuan per package
    unit_price_micro = models.BigIntegerField()  # 1/1,000,000 yuan per minimal unit, half-up

    class Meta:
        verbose_name = _("价格观测 / price observation")
        verbose_name_plural = _("价格观测 / price observations")
        constraints = [
            # source_id first: integer comparisons, cheaper to maintain on bulk inserts.
            models.UniqueConstraint(fields=["source_id", "source"], name="price_observation_per_source_row"),
            models.CheckConstraint(name="price_observation_price_nonnegative", condition=Q(price_units__gte=0)),
            models.CheckConstraint(
                name="price_observation_period_format", condition=Q(period__regex=r"^\d{4}-(0[1-9]|1[0-2])$")
            ),
        ]
        indexes = [
            models.Index(fields=["period", "source", "region_code"], name="price_obs_partition_idx"),
            models.Index(fields=["product", "source", "observed_on"], name="price_obs_product_idx"),
        ]


class PriceIndex(models.Model):
    """Monthly fixed-basket (Laspeyres) index of transaction prices: base month = 100.

    Basket items are comparable groups (generic name, dosage form, specification) priced
    per minimal unit and weighted by the base month's minimal units bought in the region
    (price_monitor.services.index). ``value`` is a ratio, rounded half-up to 4 places.
    """

    region_code = models.CharField(max_length=6)  # the region whose hospitals (and sub-regions') are indexed
    category = models.CharField(max_length=10)  # drug / consumable
    base_period = models.CharField(max_length=7)
    period = models.CharField(max_length=7)
    value = models.DecimalField(max_digits=12, decimal_places=4)
    items = models.PositiveIntegerField(default=0)  # basket items priced in this month
    basket_items = models.PositiveIntegerField(default=0)  # basket items of the base month
    coverage = models.DecimalField(max_digits=6, decimal_places=4, default=0)  # share of base-month basket value priced
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("价格指数 / price index")
        verbose_name_plural = _("价格指数 / price indices")
        ordering = ["region_code", "category", "base_period", "period"]
        constraints = [
            models.UniqueConstraint(
                fields=["region_code", "category", "base_period", "period"], name="price_index_key"
            ),
        ]
