"""Pinyin initials come from a small phrase table (liaison_app/pinyin_phrases.json), not from
pypinyin's whole phrase dictionary: they must still read names as that dictionary does."""

from liaison_app import pinyin


def test_polyphonic_characters_are_read_as_in_the_phrase():
    assert pinyin.initials("重庆银行") == "cqyh"
    assert pinyin.initials("人行道施工") == "rxdsg"
    assert pinyin.initials("太仓恒丰精密机械 Co. 2") == "tchfjmjxco2"


def test_the_small_table_agrees_with_the_whole_dictionary_on_every_phrase():
    phrases = pinyin.full_dictionary()
    assert len(phrases) > 40_000
    assert pinyin.disagreements(phrases) == []  # else: .venv/bin/python -m liaison_app.pinyin
