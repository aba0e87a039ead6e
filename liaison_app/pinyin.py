"""Pinyin initials of Chinese names (太仓恒丰精密机械 → tchfjmjx), for search on a phone keyboard."""

from pypinyin import Style, lazy_pinyin


def initials(name: str) -> str:
    """Lower-case initials of every Han character; letters and digits are kept as typed."""
    letters = lazy_pinyin(name or "", style=Style.FIRST_LETTER, errors=lambda chars: list(chars))
    return "".join(ch.lower() for part in letters for ch in part if ch.isalnum())[:60]
