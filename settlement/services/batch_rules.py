"""Who may do what to batches, payments, collections and prepayments, and the error
codes/messages those services raise (tests and the API reuse these constants).

A ``SettlementError`` carries a reason code, a bilingual message and the HTTP status the
API answers with; ``details`` holds row errors for imports.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from parties.identifiers import region_prefix
from parties.models import Role
from parties.scoping import sees_everything, user_region_prefix

# -- reason codes -------------------------------------------------------------------
FORBIDDEN = "forbidden"
OUT_OF_SCOPE = "not_found"  # another region's document answers like a missing one
NOT_FOUND = "not_found"
FOUR_EYES = "four_eyes"
BAD_TRANSITION = "bad_transition"
REASON_REQUIRED = "reason_required"
NO_LINES = "no_lines"
BAD_INPUT = "invalid"
IMPORT_REJECTED = "import_rejected"

MSG_FORBIDDEN = _("您的角色不能执行此操作 / your role may not do this")
MSG_NOT_FOUND = _("未找到 / not found")
MSG_FOUR_EYES = _("不得审核本人创建的批次（双人复核） / you cannot approve or reject a batch you built (four eyes)")
MSG_BAD_TRANSITION = _("当前状态不允许此操作 / the document's status does not allow this")
MSG_REASON_REQUIRED = _("请填写原因 / a reason is required")
MSG_NO_LINES = _("没有可结算的明细 / no settleable lines for this region and cut-off")
MSG_REGION_UNKNOWN = _("统筹区不存在 / unknown region")
MSG_NOT_REISSUABLE = _("只有支付失败的指令可以重新签发 / only a failed instruction can be reissued")
MSG_BANK_DETAILS_MISSING = _(
    "企业银行信息不完整，请先补正 / the enterprise's bank details are incomplete: fix them first"
)

# Payment confirmation row reasons (INTERCHANGE.md payment_confirmations).
MSG_UNKNOWN_INSTRUCTION = _("支付指令号不存在 / unknown instruction number")
MSG_PAYEE_MISMATCH = _("收款企业与支付指令不符 / payee does not match the instruction")
MSG_AMOUNT_MISMATCH = _("金额与支付指令不符 / amount does not equal the instruction amount")
MSG_BANK_REF_REQUIRED = _("支付成功须有银行流水号 / a successful payment needs a bank reference")
MSG_BANK_REF_DUPLICATE = _("银行流水号重复 / bank reference already used")
MSG_CONFIRMATION_CONFLICT = _("该指令已有不同内容的回单 / the instruction already has a different confirmation")
MSG_INSTRUCTION_SUPERSEDED = _("该指令已被重新签发替代 / the instruction was replaced by a reissue")
MSG_DUPLICATE_ROW = _("同一文件中指令号重复且内容不同 / instruction number repeated in the file with different content")
MSG_BAD_VALUE = _("取值无效 / invalid value")
MSG_REQUIRED = _("必填项为空 / required value is blank")
MSG_ALL_ROWS_REJECTED = _("文件的所有行都被拒绝 / every row of the file was rejected")
MSG_FILE_REJECTED = _("文件有错误行，未写入任何数据 / the file has bad rows: nothing was written")

OPERATOR_ROLES = (Role.BUREAU_OPERATOR, Role.BUREAU_APPROVER)
APPROVER_ROLES = (Role.BUREAU_APPROVER,)


class SettlementError(Exception):
    """A refused request: ``code`` (constant above), message, HTTP status, row details."""

    def __init__(self, code: str, message, *, status: int = 400, details: list | None = None):
        super().__init__(str(message))
        self.code = code
        self.message = str(message)
        self.status = status
        self.details = details or []


def require_role(user, roles: tuple[str, ...]) -> None:
    """A superuser may act in every role (INTERFACES.md); everyone else needs one of ``roles``."""
    if not user or not user.is_authenticated or not user.is_active:
        raise SettlementError(FORBIDDEN, MSG_FORBIDDEN, status=403)
    if user.is_superuser:
        return
    if user.role not in roles:
        raise SettlementError(FORBIDDEN, MSG_FORBIDDEN, status=403)


def user_covers_region(user, region_code: str) -> bool:
    """Does ``user``'s bureau region contain ``region_code`` (or is the user unrestricted)?"""
    if sees_everything(user):
        return True
    prefix = user_region_prefix(user)
    return prefix is not None and region_prefix(region_code).startswith(prefix)


def require_region(user, region_code: str) -> None:
    if not user_covers_region(user, region_code):
        raise SettlementError(NOT_FOUND, MSG_NOT_FOUND, status=404)


def require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise SettlementError(REASON_REQUIRED, MSG_REASON_REQUIRED)
    return text
