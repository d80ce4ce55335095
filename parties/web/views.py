"""The shell's pages: login, home per role, and the answer to a locked-out login."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from parties.models import Role
from parties.web.navigation import effective_role

MSG_LOCKED_OUT = _(
    "登录失败次数过多，账户已被临时锁定，请稍后再试或联系管理员。 / Too many failed logins: the account is locked for a while; try later or contact an administrator."
)
LOCKED_OUT_CODE = "locked_out"
LOCKOUT_STATUS = 429

# What each role will do here (DOMAIN.md "Who uses it"); the features fill in the pages.
ROLE_CARDS: dict[str, list[tuple[object, object]]] = {
    Role.ENTERPRISE: [
        (
            _("应收账款"),
            _(
                "账龄、每张发票所处环节和责任方、预计回款日 / receivables, ageing, where each invoice is, expected pay dates"
            ),
        ),
        (_("回款记录"), _("医保基金直接结算的付款明细 / payments received through direct settlement")),
        (_("异议"), _("对发票明细提出异议并跟踪处理 / dispute a line and follow it")),
    ],
    Role.HOSPITAL: [
        (_("验收入库"), _("逐行确认配送：合格或拒收并说明原因 / accept or reject each delivered line, with a reason")),
        (_("对账单"), _("核对并确认每月对账单 / review and confirm the monthly statements")),
        (_("协议完成进度"), _("约定采购量完成情况与托收单 / agreed volumes against purchases, collection orders")),
    ],
    Role.BUREAU_OPERATOR: [
        (_("结算批次"), _("预览金额与资金来源后创建批次 / preview totals and funding, then build a batch")),
        (_("支付"), _("导入基金应拨付额与银行回单 / import fund allocations and bank confirmations")),
        (_("逾期督办"), _("按环节和责任方查看逾期 / late payments by stage and party")),
    ],
    Role.BUREAU_APPROVER: [
        (_("批次审核"), _("审核或退回批次(不得审核本人创建的批次) / approve or reject batches (never your own)")),
        (_("台账"), _("查看结算台账 / read the settlement ledger")),
    ],
    Role.PRICE_ANALYST: [
        (_("价格预警"), _("筛选、确认或排除预警并说明理由 / review price alerts, confirm or dismiss with a reason")),
        (_("价格走势"), _("产品价格历史与价格指数 / product price history and the price index")),
        (_("监测报告"), _("下载月度价格监测报告 / download the monthly monitoring report")),
    ],
    Role.ADMIN: [
        (
            _("主数据"),
            _("行政区划、企业、医疗机构、产品和集采批次 / regions, enterprises, hospitals, products and rounds"),
        ),
        (_("用户"), _("账户、角色和所属机构 / accounts, roles and organisations")),
        (_("审计"), _("主数据修改记录与安全事件 / master-data audit log and security events")),
    ],
}


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@login_required
def home(request):
    role = effective_role(request.user)
    return render(request, "parties/home.html", {"cards": ROLE_CARDS.get(role, []), "role": role})


def lockout_response(request, original_response=None, credentials=None):
    """django-axes ``AXES_LOCKOUT_CALLABLE``: the error shape for the API, a page otherwise."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": LOCKED_OUT_CODE, "detail": str(MSG_LOCKED_OUT), "fields": {}},
            status=LOCKOUT_STATUS,
            json_dumps_params={"ensure_ascii": False},
        )
    return render(request, "registration/locked_out.html", {"message": MSG_LOCKED_OUT}, status=LOCKOUT_STATUS)
