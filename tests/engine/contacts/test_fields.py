"""How a contact's name is written: family name first in Japanese, Chinese and Korean."""

from __future__ import annotations

import pytest

from engine.contacts.fields import display_name


@pytest.mark.parametrize(
    ("first", "last", "locale", "expected"),
    [
        ("太郎", "山田", "ja", "山田 太郎"),
        ("太郎", "山田", None, "山田 太郎"),  # the script says how it is written
        ("太郎", "山田", "en", "山田 太郎"),
        ("タロウ", "ヤマダ", None, "ヤマダ タロウ"),
        ("민준", "김", None, "김 민준"),
        ("Taro", "Yamada", "ja-JP", "Yamada Taro"),
        ("Taro", "Yamada", None, "Taro Yamada"),
        ("Ann", "Lee", "en-GB", "Ann Lee"),
        (None, "山田", None, "山田"),
        (None, None, "ja", ""),
    ],
)
def test_display_name(first, last, locale, expected) -> None:
    assert display_name(first, last, locale) == expected
