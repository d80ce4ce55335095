"""Checks for the identifiers of DOMAIN.md "Identifiers" and INTERCHANGE.md.

Each ``validate_*`` raises ``django.core.exceptions.ValidationError`` with a
message constant that tests and the importer reuse; each ``is_*`` answers bool.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# GB 32100-2015: the 31 characters of the 统一社会信用代码 and their values 0-30.
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}

REGION_CODE_RE = re.compile(r"^\d{6}$")
HOSPITAL_CODE_RE = re.compile(r"^H\d{11}$")
DRUG_CODE_RE = re.compile(r"^[XZ][A-Z0-9]{22}$")
CONSUMABLE_CODE_RE = re.compile(r"^C[A-Z0-9]{26}$")
INVOICE_NO_DIGITAL_RE = re.compile(r"^\d{20}$")
INVOICE_NO_PAPER_RE = re.compile(r"^\d{8}$")
INVOICE_CODE_RE = re.compile(r"^(\d{10}|\d{12})$")
BANK_ACCOUNT_RE = re.compile(r"^\d{8,30}$")

MSG_CREDIT_FORMAT = _(
    "统一社会信用代码须为18位，字符取自 0-9 A-H J-N P-R T-U W-Y / credit code must be 18 characters from the GB 32100 charset"
)
MSG_CREDIT_CHECK = _("统一社会信用代码校验位错误 / credit code check character is wrong")
MSG_REGION_FORMAT = _("区划代码须为6位数字 / region code must be 6 digits")
MSG_HOSPITAL_FORMAT = _("医疗机构编码须为 H + 11位数字 / hospital code must be H followed by 11 digits")
MSG_PRODUCT_FORMAT = _("医保编码格式错误 / product code format is wrong")
MSG_PRODUCT_CATEGORY = _("医保编码与类别不符 / product code does not agree with its category")
MSG_INVOICE_NO = _("发票号码须为20位（全电）或8位数字 / invoice number must be 20 or 8 digits")
MSG_INVOICE_CODE = _("8位发票号码须有10或12位发票代码 / an 8-digit invoice number needs a 10- or 12-digit invoice code")
MSG_INVOICE_CODE_UNEXPECTED = _("全电发票不应有发票代码 / a 20-digit invoice has no invoice code")
MSG_BANK_ACCOUNT = _("银行账号须为8-30位数字 / bank account must be 8-30 digits")


def credit_code_check_char(first17: str) -> str:
    """The 18th character for the first 17 characters of a credit code."""
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def is_credit_code(value: str) -> bool:
    if not isinstance(value, str) or len(value) != 18:
        return False
    if any(c not in _CREDIT_VALUE for c in value):
        return False
    return credit_code_check_char(value[:17]) == value[17]


def validate_credit_code(value: str) -> None:
    if not isinstance(value, str) or len(value) != 18 or any(c not in _CREDIT_VALUE for c in value):
        raise ValidationError(MSG_CREDIT_FORMAT, code="credit_format")
    if credit_code_check_char(value[:17]) != value[17]:
        raise ValidationError(MSG_CREDIT_CHECK, code="credit_check")


def region_prefix(region_code: str) -> str:
    """Coverage prefix (INTERCHANGE.md "Region coverage"): drop trailing ``00`` pairs."""
    code = region_code
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def region_parent_code(region_code: str) -> str | None:
    """The parent derivable from the digits: district → city → province → None."""
    prefix = region_prefix(region_code)
    if len(prefix) <= 2:
        return None
    return prefix[:-2].ljust(6, "0")


def region_covers(covering_code: str, region_code: str) -> bool:
    return region_code.startswith(region_prefix(covering_code))


def validate_region_code(value: str) -> None:
    if not isinstance(value, str) or not REGION_CODE_RE.match(value):
        raise ValidationError(MSG_REGION_FORMAT, code="region_format")


def validate_hospital_code(value: str) -> None:
    if not isinstance(value, str) or not HOSPITAL_CODE_RE.match(value):
        raise ValidationError(MSG_HOSPITAL_FORMAT, code="hospital_format")


def hospital_region_code(hospital_code: str) -> str:
    return hospital_code[1:7]


def product_category_of(code: str) -> str | None:
    """'drug', 'consumable' or None when the code has neither shape."""
    if isinstance(code, str):
        if DRUG_CODE_RE.match(code):
            return "drug"
        if CONSUMABLE_CODE_RE.match(code):
            return "consumable"
    return None


def validate_product_code(value: str, category: str | None = None) -> None:
    found = product_category_of(value)
    if found is None:
        raise ValidationError(MSG_PRODUCT_FORMAT, code="product_format")
    if category is not None and found != category:
        raise ValidationError(MSG_PRODUCT_CATEGORY, code="product_category")


def validate_invoice_number(invoice_no: str, invoice_code: str | None = None) -> None:
    """20-digit 全电 number without code, or 8-digit number with a 10/12-digit code."""
    code = invoice_code or ""
    if isinstance(invoice_no, str) and INVOICE_NO_DIGITAL_RE.match(invoice_no):
        if code:
            raise ValidationError(MSG_INVOICE_CODE_UNEXPECTED, code="invoice_code_unexpected")
        return
    if isinstance(invoice_no, str) and INVOICE_NO_PAPER_RE.match(invoice_no):
        if not INVOICE_CODE_RE.match(code):
            raise ValidationError(MSG_INVOICE_CODE, code="invoice_code")
        return
    raise ValidationError(MSG_INVOICE_NO, code="invoice_no")


def validate_bank_account(value: str) -> None:
    if not isinstance(value, str) or not BANK_ACCOUNT_RE.match(value):
        raise ValidationError(MSG_BANK_ACCOUNT, code="bank_account")
