import pytest
from django.core.exceptions import ValidationError

from parties.identifiers import (
    is_credit_code,
    region_covers,
    region_parent_code,
    region_prefix,
    validate_credit_code,
    validate_hospital_code,
    validate_invoice_number,
    validate_product_code,
)


@pytest.mark.parametrize("code", ["914403001922038216", "91110108551385082Q"])
def test_domain_examples_are_valid_credit_codes(code):
    validate_credit_code(code)
    assert is_credit_code(code)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("914403001922038217", "credit_check"),  # last digit changed
        ("91110108551385082A", "credit_check"),
        ("91110108551385082", "credit_format"),  # 17 characters
        ("91110108551385082I", "credit_format"),  # I is not in the charset
        ("91110108551385O82Q", "credit_format"),  # letter O
    ],
)
def test_wrong_credit_codes_are_refused_with_their_reason(code, error):
    with pytest.raises(ValidationError) as exc:
        validate_credit_code(code)
    assert exc.value.code == error
    assert not is_credit_code(code)


def test_region_coverage_drops_trailing_zero_pairs():
    assert region_prefix("370000") == "37"
    assert region_prefix("371000") == "3710"
    assert region_prefix("371002") == "371002"
    assert region_covers("371000", "371002")
    assert not region_covers("371000", "371100")  # 日照 is not under 威海
    assert region_covers("370000", "371100")
    assert region_parent_code("371002") == "371000"
    assert region_parent_code("370000") is None


def test_hospital_code():
    validate_hospital_code("H37100200017")
    for bad in ["H3710020001", "X37100200017", "h37100200017", "H3710020001A"]:
        with pytest.raises(ValidationError):
            validate_hospital_code(bad)


def test_product_codes_and_category():
    validate_product_code("XA01ABD075A002010100483", "drug")
    validate_product_code("ZA01ABD075A002010100483", "drug")
    validate_product_code("C" + "1" * 26, "consumable")
    with pytest.raises(ValidationError) as exc:
        validate_product_code("XA01ABD075A002010100483", "consumable")
    assert exc.value.code == "product_category"
    for bad in ["XA01ABD075A00201010048", "C" + "1" * 25, "YA01ABD075A002010100483"]:
        with pytest.raises(ValidationError):
            validate_product_code(bad)


def test_invoice_numbers():
    validate_invoice_number("26372000000012345678")
    validate_invoice_number("12345678", "3700123456")
    validate_invoice_number("12345678", "037001234567")
    with pytest.raises(ValidationError) as exc:
        validate_invoice_number("12345678")
    assert exc.value.code == "invoice_code"
    with pytest.raises(ValidationError) as exc:
        validate_invoice_number("2637200000001234567")
    assert exc.value.code == "invoice_no"
    with pytest.raises(ValidationError) as exc:
        validate_invoice_number("26372000000012345678", "3700123456")
    assert exc.value.code == "invoice_code_unexpected"
