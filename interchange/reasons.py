"""Why a row (or a whole file) was refused: reason codes and their messages.

Every error of an import report carries one of these codes and its bilingual message;
tests compare against the constants, never against literal text. Identifier messages
come from ``parties.identifiers`` so the importer says exactly what the validators say.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from parties import identifiers as ids


@dataclass(frozen=True)
class Reason:
    code: str
    message: object  # lazy translation string

    def __str__(self) -> str:
        return str(self.message)


# -- the file as a whole ------------------------------------------------------
MISSING_COLUMN = Reason("missing_column", _("缺少必填列 / required column is missing"))
UNREADABLE = Reason("unreadable", _("文件无法读取 / the file cannot be read"))
UNKNOWN_COLUMN = Reason("unknown_column", _("未知列，已忽略 / unknown column, ignored"))
DUPLICATE_COLUMN = Reason("duplicate_column", _("列重复 / column given twice"))

# -- a cell's shape -----------------------------------------------------------
REQUIRED = Reason("required", _("必填项为空 / required value is blank"))
TOO_LONG = Reason("too_long", _("内容过长 / value is too long"))
BAD_CHARACTER = Reason(
    "bad_character", _("含有不允许的控制字符（如 NUL） / contains a control character (such as NUL)")
)
BAD_INTEGER = Reason("bad_integer", _("须为整数 / must be an integer"))
BAD_DECIMAL = Reason("bad_decimal", _("须为十进制数 / must be a decimal number"))
TOO_MANY_DECIMALS = Reason("too_many_decimals", _("小数位数过多 / too many decimal places"))
TOO_LARGE = Reason("too_large", _("数值过大 / number is too large"))
BAD_DATE = Reason("bad_date", _("日期须为 YYYY-MM-DD / date must be YYYY-MM-DD"))
BAD_TIMESTAMP = Reason("bad_timestamp", _("时间须为 ISO 8601 / timestamp must be ISO 8601"))
BAD_PERIOD = Reason("bad_period", _("结算期须为 YYYY-MM / period must be YYYY-MM"))
BAD_ENUM = Reason("bad_enum", _("取值不在允许范围内 / value is not one of the allowed values"))

# -- identifiers (parties.identifiers) ----------------------------------------
CREDIT_FORMAT = Reason("credit_format", ids.MSG_CREDIT_FORMAT)
CREDIT_CHECK = Reason("credit_check", ids.MSG_CREDIT_CHECK)
REGION_FORMAT = Reason("region_format", ids.MSG_REGION_FORMAT)
HOSPITAL_FORMAT = Reason("hospital_format", ids.MSG_HOSPITAL_FORMAT)
PRODUCT_FORMAT = Reason("product_format", ids.MSG_PRODUCT_FORMAT)
PRODUCT_CATEGORY = Reason("product_category", ids.MSG_PRODUCT_CATEGORY)
INVOICE_NO = Reason("invoice_no", ids.MSG_INVOICE_NO)
INVOICE_CODE = Reason("invoice_code", ids.MSG_INVOICE_CODE)
INVOICE_CODE_UNEXPECTED = Reason("invoice_code_unexpected", ids.MSG_INVOICE_CODE_UNEXPECTED)
BANK_ACCOUNT = Reason("bank_account", ids.MSG_BANK_ACCOUNT)

# -- references ---------------------------------------------------------------
UNKNOWN_REFERENCE = Reason("unknown_reference", _("引用的记录不存在 / referenced record does not exist"))
OUT_OF_SCOPE = Reason("out_of_scope", _("不在您的权限范围内 / outside your organisation or region"))
NOT_DISTRIBUTOR = Reason("not_distributor", _("该企业不是配送企业 / the enterprise is not a distributor"))
HOSPITAL_REGION_UNKNOWN = Reason(
    "hospital_region_unknown", _("医疗机构编码中的区划代码不存在 / the region inside the hospital code is unknown")
)
PARENT_NOT_COVERING = Reason(
    "parent_not_covering", _("上级区划不包含该区划 / parent region does not cover this region")
)
NO_AWARD = Reason(
    "no_award", _("该批次无覆盖该医疗机构地区的中选结果 / no award of the round covers the hospital's region")
)
OUTSIDE_ROUND = Reason("outside_round", _("协议年度开始不在批次协议期内 / year start is outside the round's period"))

# -- rules --------------------------------------------------------------------
NOT_POSITIVE = Reason("not_positive", _("须大于0 / must be greater than 0"))
NEGATIVE = Reason("negative", _("不能为负数 / must not be negative"))
END_NOT_AFTER_START = Reason("end_not_after_start", _("结束日期须晚于开始日期 / end must be after start"))
BANK_REQUIRED = Reason(
    "bank_required", _("配送企业须填写开户银行和银行账号 / a distributor needs bank name and account")
)
DOSAGE_FORM_REQUIRED = Reason("dosage_form_required", _("药品须填写剂型 / a drug needs a dosage form"))
QTY_MISMATCH = Reason(
    "qty_mismatch", _("验收合格数量 + 拒收数量 须等于配送数量 / accepted + rejected must equal the delivered quantity")
)
REJECT_REASON_REQUIRED = Reason("reject_reason_required", _("有拒收时须填写拒收原因 / a rejection needs a reason"))
RECEIVED_BEFORE_DELIVERED = Reason(
    "received_before_delivered", _("验收时间早于配送时间 / received before it was delivered")
)
DELIVERED_BEFORE_ORDERED = Reason(
    "delivered_before_ordered", _("配送时间早于下单时间 / delivered before it was ordered")
)
OVER_DELIVERED = Reason("over_delivered", _("累计配送数量超过订单数量 / total delivered exceeds the ordered quantity"))
SIGN_BY_KIND = Reason(
    "sign_by_kind", _("蓝字发票数量和金额须为正，红字须为负 / blue lines are positive, red lines negative")
)
ORIGINAL_REQUIRED = Reason(
    "original_required", _("红字发票须填写原蓝字发票号码 / a red line needs the original invoice")
)
ORIGINAL_UNEXPECTED = Reason(
    "original_unexpected", _("蓝字发票不应填写原发票号码 / a blue line has no original invoice")
)
TAX_RATE_RANGE = Reason("tax_rate_range", _("税率须在0到1之间 / tax rate must be from 0 up to 1"))

# -- keys ---------------------------------------------------------------------
DUPLICATE_KEY = Reason(
    "duplicate_key", _("文件内主键重复且内容不同 / the same key appears twice in the file with different content")
)
CONFLICT = Reason(
    "conflict",
    _("与已导入的记录内容不同，单据不能覆盖 / differs from the record already imported; documents are not overwritten"),
)
RECEIPT_CONFLICT = Reason(
    "receipt_conflict", _("该配送明细已有不同的验收记录 / the delivery line already has a different receipt")
)
