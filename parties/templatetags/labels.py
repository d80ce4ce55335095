"""{{ code|doc_label }}: the bilingual label of a document action or status code for history lists."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

ACTION_LABELS = {
    "create": _("生成 / created"),
    "created": _("生成 / created"),
    "submit": _("提交 / submitted"),
    "approve": _("审核通过 / approved"),
    "reject": _("退回 / rejected"),
    "cancel": _("撤销 / cancelled"),
    "pay": _("支付 / paid"),
    "paid": _("已支付 / paid"),
    "issue": _("开具 / issued"),
    "reissue": _("重发 / reissued"),
    "fail": _("支付失败 / failed"),
    "lines_added": _("加入明细 / lines added"),
    "line_added": _("加入明细 / line added"),
    "confirmed": _("确认 / confirmed"),
    "disputed": _("提出异议 / disputed"),
}


def _status_labels() -> dict:
    from settlement.models import StatementStatus
    from settlement.models.batches import BatchStatus, InstructionStatus

    labels: dict = {}
    for choices in (InstructionStatus, StatementStatus, BatchStatus):
        labels.update(dict(choices.choices))
    return labels


@register.filter
def doc_label(code: str) -> str:
    if not code:
        return ""
    return ACTION_LABELS.get(code) or _status_labels().get(code) or code
