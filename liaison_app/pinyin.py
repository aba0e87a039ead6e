"""Pinyin initials of Chinese names (太仓恒丰精密机械 → tchfjmjx), for search on a phone keyboard.

Memory: pypinyin's own phrase dictionary (47,000 phrases, and the segmenter built on it) costs
every worker about 43 MB. Initials need only the phrases whose initials differ from reading
each character alone (重庆 cq, not zq) or that change where a name is cut: pinyin_phrases.json
holds those (about 2,500), made from pypinyin's data by `python -m liaison_app.pinyin`. Run it
after upgrading pypinyin; tests/test_pinyin.py checks that the two still agree on every phrase.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")  # read before pypinyin is imported

from pypinyin import Style, lazy_pinyin, load_phrases_dict  # noqa: E402

PHRASES = Path(__file__).with_name("pinyin_phrases.json")
load_phrases_dict(json.loads(PHRASES.read_text(encoding="utf-8")))


def initials(name: str) -> str:
    """Lower-case initials of every Han character; letters and digits are kept as typed."""
    letters = lazy_pinyin(name or "", style=Style.FIRST_LETTER, errors=lambda chars: list(chars))
    return "".join(ch.lower() for part in letters for ch in part if ch.isalnum())[:60]


_FULL = """
import json, sys
from pypinyin import Style, lazy_pinyin, phrases_dict
json.dump({phrase: [[[syllables[0]] for syllables in readings],
                    "".join(lazy_pinyin(phrase, style=Style.FIRST_LETTER)).lower()]
           for phrase, readings in phrases_dict.phrases_dict.items()}, sys.stdout, ensure_ascii=False)
"""


def full_dictionary() -> dict[str, tuple[list[list[str]], str]]:
    """pypinyin's whole phrase dictionary: each phrase's readings (the first of each character)
    and its initials with that dictionary, read in a process of its own since this one loaded
    the small one."""
    env = {k: v for k, v in os.environ.items() if k != "PYPINYIN_NO_PHRASES"}
    out = subprocess.run([sys.executable, "-c", _FULL], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def disagreements(phrases: dict[str, tuple[list[list[str]], str]]) -> list[str]:
    """The phrases whose initials here differ from those with the full dictionary."""
    return [phrase for phrase, (_readings, letters) in phrases.items()
            if "".join(lazy_pinyin(phrase, style=Style.FIRST_LETTER)).lower() != letters]


def rebuild() -> int:
    """Write pinyin_phrases.json: start from the phrases whose initials differ from their
    characters' own, then add every phrase still read differently until none is."""
    from pypinyin.constants import PHRASES_DICT

    phrases = full_dictionary()
    kept: dict[str, list[list[str]]] = {}
    PHRASES_DICT.clear()  # forget the shipped table: start from single characters
    load_phrases_dict({})
    for _round in range(20):
        missing = disagreements(phrases)
        if not missing:
            break
        kept.update({phrase: phrases[phrase][0] for phrase in missing})
        load_phrases_dict({phrase: phrases[phrase][0] for phrase in missing})
    else:
        raise SystemExit(f"{len(missing)} phrases still disagree, e.g. {missing[:5]}")
    PHRASES.write_text(json.dumps(dict(sorted(kept.items())), ensure_ascii=False, separators=(",", ":")),
                       encoding="utf-8")
    print(f"{PHRASES.name}: {len(kept)} of {len(phrases)} phrases")
    return 0


if __name__ == "__main__":
    sys.exit(rebuild())
