"""A small two-city world for scoping tests: every family has one row per party.

Regions: 370000 province → 371000 威海 → 371002 district; 371100 日照 → 371102 district.
Hospital A is in 371002 (威海), hospital B in 371102 (日照). Distributor A sells to A,
distributor B to B. The manufacturer M won the province-wide award (supply 370000) and
manufacturer N the 日照 award (supply 371100).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from parties.models import Role
from procurement.models import Prepayment
from settlement.models import Statement
from tests.factories import (
    AgreementFactory,
    AwardFactory,
    BureauFactory,
    DeliveryLineFactory,
    EnterpriseFactory,
    FundAllocationFactory,
    HospitalFactory,
    InvoiceLineFactory,
    ManufacturerFactory,
    OrderLineFactory,
    ProductFactory,
    ReferencePriceFactory,
    RegionFactory,
    RoundFactory,
    UserFactory,
    bureau_user,
    enterprise_user,
    hospital_user,
)


@dataclass
class World:
    regions: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)  # label → model instance
    users: dict = field(default_factory=dict)  # label → user

    def labels(self, qs) -> set[str]:
        """The labels of the world's rows found in ``qs``."""
        pks = set(qs.values_list("pk", flat=True))
        model = qs.model
        return {label for label, row in self.rows.items() if type(row) is model and row.pk in pks}


def build_world() -> World:
    w = World()
    province = RegionFactory(code="370000", name="山东省")
    weihai = RegionFactory(code="371000", name="威海市", parent=province)
    huancui = RegionFactory(code="371002", name="环翠区", parent=weihai)
    rizhao = RegionFactory(code="371100", name="日照市", parent=province)
    donggang = RegionFactory(code="371102", name="东港区", parent=rizhao)
    w.regions = {"province": province, "weihai": weihai, "huancui": huancui, "rizhao": rizhao, "donggang": donggang}

    ha = HospitalFactory(region=huancui, name="威海市立医院")
    hb = HospitalFactory(region=donggang, name="日照人民医院")
    da = EnterpriseFactory(name="配送A")
    db = EnterpriseFactory(name="配送B")
    m = ManufacturerFactory(name="制药M")
    n = ManufacturerFactory(name="制药N")
    product_m = ProductFactory(manufacturer=m)
    product_n = ProductFactory(manufacturer=n)
    rnd = RoundFactory()

    oa = OrderLineFactory(hospital=ha, distributor=da, product=product_m)
    ob = OrderLineFactory(hospital=hb, distributor=db, product=product_n)
    dla = DeliveryLineFactory(order_line=oa, received=True)
    dlb = DeliveryLineFactory(order_line=ob)
    ia = InvoiceLineFactory(delivery_line=dla)
    ib = InvoiceLineFactory(delivery_line=DeliveryLineFactory(order_line=ob, received=True))
    w.rows.update(
        {
            "hospital_a": ha,
            "hospital_b": hb,
            "order_a": oa,
            "order_b": ob,
            "delivery_a": dla,
            "delivery_b": dlb,
            "delivery_b_received": ib.delivery_line,
            "invoice_a": ia,
            "invoice_b": ib,
            "fund_a": FundAllocationFactory(hospital=ha),
            "fund_b": FundAllocationFactory(hospital=hb),
            "agreement_a": AgreementFactory(round=rnd, hospital=ha, product=product_m),
            "agreement_b": AgreementFactory(round=rnd, hospital=hb, product=product_n),
            "award_province": AwardFactory(round=rnd, product=product_m, enterprise=m, supply_region=province),
            "award_rizhao": AwardFactory(round=rnd, product=product_n, enterprise=n, supply_region=rizhao),
            "price_province": ReferencePriceFactory(product=product_m, region=province),
            "price_weihai": ReferencePriceFactory(product=product_m, region=weihai),
            "price_huancui": ReferencePriceFactory(product=product_m, region=huancui),
            "price_rizhao": ReferencePriceFactory(product=product_n, region=rizhao),
            "prepayment_a": Prepayment.objects.create(
                hospital=ha, year_start=dt.date(2026, 1, 1), amount=Decimal("300.00")
            ),
            "prepayment_b": Prepayment.objects.create(
                hospital=hb, year_start=dt.date(2026, 1, 1), amount=Decimal("300.00")
            ),
            "statement_a": Statement.objects.create(
                no="ST2026000001", hospital=ha, distributor=da, period="2026-09", deadline=dt.date(2026, 10, 5)
            ),
            "statement_b": Statement.objects.create(
                no="ST2026000002", hospital=hb, distributor=db, period="2026-09", deadline=dt.date(2026, 10, 5)
            ),
        }
    )
    w.rows["distributor_a"], w.rows["distributor_b"], w.rows["manufacturer_m"], w.rows["manufacturer_n"] = da, db, m, n
    w.rows["product_m"], w.rows["product_n"], w.rows["round"] = product_m, product_n, rnd

    bureau_weihai = BureauFactory(region=weihai)
    bureau_province = BureauFactory(region=province)
    bureau_rizhao = BureauFactory(region=rizhao)
    w.users = {
        "hospital_a": hospital_user(ha, username="hosp_a"),
        "hospital_b": hospital_user(hb, username="hosp_b"),
        "distributor_a": enterprise_user(da, username="dist_a"),
        "manufacturer_m": enterprise_user(m, username="manu_m"),
        "bureau_weihai": bureau_user(bureau_weihai, username="op_weihai"),
        "approver_rizhao": bureau_user(bureau_rizhao, role=Role.BUREAU_APPROVER, username="ap_rizhao"),
        "analyst_province": bureau_user(bureau_province, role=Role.PRICE_ANALYST, username="pa_province"),
        "admin": UserFactory(username="admin_role", role=Role.ADMIN),
        "superuser": UserFactory(username="root", role=Role.ADMIN, is_superuser=True, is_staff=True),
        "inactive_hospital_a": hospital_user(ha, username="gone_a", is_active=False),
    }
    return w
