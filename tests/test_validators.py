"""The USCC (GB 32100-2015) and Chinese phone numbers, checked with python-stdnum and phonenumbers."""

import pytest

from liaison_app.validators import InvalidValue, mask_phone, normalise_phone, normalise_uscc


@pytest.mark.parametrize(
    "value,expected",
    [
        ("91110000600037341L", "91110000600037341L"),  # the example in the standard's commentary
        ("9 1 110000 600037341L", "91110000600037341L"),  # separators are stripped
        ("91110000600037341l", "91110000600037341L"),  # lower case accepted, stored upper
    ],
)
def test_valid_codes_are_normalised(value, expected):
    assert normalise_uscc(value) == expected


def test_letters_in_the_organisation_code_are_allowed():
    from stdnum.cn import uscc

    body = "91320585MA1MXXXX0"  # a newer code with letters, as Taicang's companies have
    assert normalise_uscc(body + uscc.calc_check_digit(body)) == body + uscc.calc_check_digit(body)


@pytest.mark.parametrize(
    "value,message",
    [
        ("9111000060003734", "18 位"),  # too short
        ("91110000600037341LX", "18 位"),  # too long
        ("A1110000600037341L", "前 8 位为数字"),  # registering authority must be a digit
        ("91110000600O37341L", "不含 I、O、Z、S、V"),  # O is not in the alphabet
        ("91110000600037341M", "校验位"),  # wrong check character
        ("91110000600037342L", "校验位"),  # a typo in the body
    ],
)
def test_invalid_codes_say_what_is_wrong(app, value, message):
    with app.test_request_context():
        with pytest.raises(InvalidValue) as error:
            normalise_uscc(value)
        assert message in str(error.value.message)


@pytest.mark.parametrize(
    "value,expected",
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("19912345678", "+8619912345678"),
        ("0512-53521234", "+8651253521234"),  # Suzhou landline with area code
        ("(0796) 5712345", "+867965712345"),  # Ji'an landline
        ("010-12345678", "+861012345678"),
        ("021-64281234", "+862164281234"),  # Shanghai landline
    ],
)
def test_valid_chinese_numbers(value, expected):
    assert normalise_phone(value) == expected


@pytest.mark.parametrize(
    "value,message",
    [
        ("", "请填写联系电话"),
        ("1381234567", "不是有效"),  # 10 digits
        ("12345678901", "不是有效"),  # no such mobile prefix
        ("53521234", "不是有效"),  # landline without area code
        ("phone", "不是电话号码"),
        ("+1 650 253 0000", "中国大陆"),
        ("+852 2123 4567", "中国大陆"),
    ],
)
def test_invalid_numbers_say_what_is_wrong(app, value, message):
    with app.test_request_context():
        with pytest.raises(InvalidValue) as error:
            normalise_phone(value)
        assert message in str(error.value.message)


def test_masking_keeps_only_the_ends():
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("+8651253521234") == "051****1234"
