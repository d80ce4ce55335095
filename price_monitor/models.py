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
            models.UniqueConstraint(fields=["product", "source", "region", "effective_from"], name="reference_price_natural_key"),
            models.CheckConstraint(name="reference_price_positive", condition=Q(price__gt=0)),
        ]
