"""The aligned EN-ZH grammar: numbers agree across languages, pairs are distinct, seeded."""

from __future__ import annotations

import re

import numpy as np
import pytest

from espnet_codec_lm.data.grammar import (
    EN_NUMBERS,
    TEMPLATES,
    en_number,
    sample_unique_pairs,
    zh_number,
)

_ZH_NUM = "零一二两三四五六七八九十"


def _zh_to_int(s: str) -> int:
    d = {c: i for i, c in enumerate("零一二三四五六七八九")}
    d["两"] = 2
    if "十" in s:
        tens, _, ones = s.partition("十")
        return (d[tens] if tens else 1) * 10 + (d[ones] if ones else 0)
    return d[s]


def _en_numbers(s: str) -> list[int]:
    words = re.findall(r"[a-z]+", s.lower())
    extra = {"once": 1, "twice": 2}
    return sorted(
        [EN_NUMBERS.index(w) for w in words if w in EN_NUMBERS]
        + [extra[w] for w in words if w in extra]
    )


def _zh_numbers(s: str) -> list[int]:
    s = re.sub("星期[一二三四五六天]", "", s)  # weekdays are names, not counts
    return sorted(
        _zh_to_int(m) for m in re.findall(f"[{_ZH_NUM}]+(?=[个本支只辆把件顶朵张封条份点次])", s)
    )


@pytest.mark.parametrize(
    "n, plain, counted",
    [
        (1, "一", "一"),
        (2, "二", "两"),
        (10, "十", "十"),
        (12, "十二", "十二"),
        (20, "二十", "二十"),
        (35, "三十五", "三十五"),
    ],
)
def test_zh_number(n, plain, counted):
    assert zh_number(n) == plain and zh_number(n, before_classifier=True) == counted


def test_number_ranges():
    with pytest.raises(ValueError):
        zh_number(100)
    with pytest.raises(ValueError):
        en_number(21)


def test_pairs_distinct_aligned_and_seeded():
    pairs = sample_unique_pairs(3000, np.random.default_rng(0))
    assert len({p.en for p in pairs}) == len({p.zh for p in pairs}) == 3000
    assert pairs == sample_unique_pairs(3000, np.random.default_rng(0))
    assert pairs[:50] != sample_unique_pairs(50, np.random.default_rng(1))
    assert {p.template for p in pairs} == set(TEMPLATES)
    for p in pairs:
        assert not re.search(r"\d", p.en + p.zh), p  # numbers are words / characters
        assert p.en[0].isupper() and p.en[-1] in ".?", p  # punctuated
        assert p.zh[-1] in "。？", p
        assert not re.search(r"[A-Za-z]", p.zh), p
        assert _en_numbers(p.en) == _zh_numbers(p.zh), p


def test_thousands_of_distinct_pairs():
    assert len(sample_unique_pairs(20000, np.random.default_rng(5))) == 20000
