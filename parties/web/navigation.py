"""The menu of each role. Features add their pages here: (url name, label, roles).

Append to ``MENU`` (order is menu order); an entry whose url name does not resolve yet is
skipped, so a menu line may land before its page. Labels are short, Chinese, translated
in locale/en (``_("对账单")`` → "Statements").
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from parties.models import Role

E, H, OP, AP, PA, AD = (
    Role.ENTERPRISE,
    Role.HOSPITAL,
    Role.BUREAU_OPERATOR,
    Role.BUREAU_APPROVER,
    Role.PRICE_ANALYST,
    Role.ADMIN,
)
ALL_ROLES = (E, H, OP, AP, PA, AD)

# (url name, label, roles that see it). Order is menu order.
MENU: list[tuple[str, object, tuple[str, ...]]] = [
    ("home", _("首页"), ALL_ROLES),
    ("admin:index", _("系统管理"), (AD,)),
]

# price_monitor: the price analyst's pages (enterprises see their own credit record).
MENU += [
    ("price_inbox", _("价格预警"), (PA, AD)),
    ("price_index_page", _("价格指数"), (PA, AD)),
    ("price_report_page", _("监测报告"), (PA, AD)),
    ("price_credit_list", _("信用评价"), (PA, AD, E)),
]


# settlement alerts + procurement agreement progress (alerts feature).
MENU += [
    ("alert-list", _("预警"), ALL_ROLES),
    ("late-payment-board", _("逾期付款看板"), (OP, AP, AD)),
    ("notice-list", _("通报名单"), (OP, AP, AD)),
    ("agreement-progress", _("约定量进度"), (H,)),
    ("agreement-progress-overview", _("约定量进度"), (OP, AP, PA, AD)),
]


def effective_role(user) -> str:
    """A superuser acts in every role: the admin menu plus everything (INTERFACES.md)."""
    return Role.ADMIN if user.is_superuser else user.role


def menu_for(user) -> list[dict]:
    role = effective_role(user)
    items = []
    seen = set()
    for name, label, roles in MENU:
        if (role in roles or user.is_superuser) and name not in seen:
            try:
                items.append({"url": reverse(name), "label": label, "name": name})
            except NoReverseMatch:
                continue
            seen.add(name)
    return items


# Batches, payments, collections, prepayments, receivables (settlement batches feature).
MENU += [
    ("settlement-batches", _("结算批次"), (OP, AP, AD)),
    ("settlement-payments", _("支付指令"), (E, OP, AP, AD)),
    ("settlement-collections", _("托收单"), (H, OP, AP, AD)),
    ("settlement-prepayments", _("预付金"), (H, OP, AP, AD)),
    ("settlement-receivables", _("应收账款"), (E, OP, AP, AD)),
]


# Receipts, statements and invoice-line stages (matching & statements feature).
MENU += [
    ("procurement-receipts", _("收货验收"), (H,)),
    ("settlement-statements", _("对账单"), (E, H, OP, AP, AD)),
    ("settlement-lines", _("发票明细进度"), (E, H, OP, AP, AD)),
]
