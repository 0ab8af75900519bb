"""An aligned English-Mandarin template grammar: every sentence comes with its translation.

No EN-ZH sentence corpus ships offline, so the mini corpus writes its own. Each template draws
words from a small bilingual lexicon and renders the English and the Mandarin sentence from the
same choices, so the pair is a correct translation by construction. English inflection
(agreement, plurals, "a"/"one") and Mandarin measure words (classifiers, 两 before a classifier)
are handled per template. Numbers are written as words / characters, never digits, because the
speech synthesiser would otherwise read them in the wrong language.

Sampling is a pure function of a :class:`numpy.random.Generator`, so a seed fixes the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (english, mandarin, third-person-singular)
SUBJECTS: list[tuple[str, str, bool]] = [
    ("my brother", "我哥哥", True),
    ("my sister", "我姐姐", True),
    ("the teacher", "老师", True),
    ("our neighbour", "我们的邻居", True),
    ("the doctor", "医生", True),
    ("his father", "他爸爸", True),
    ("her mother", "她妈妈", True),
    ("my friend", "我的朋友", True),
    ("the old man", "那个老人", True),
    ("the little girl", "那个小女孩", True),
    ("the student", "那个学生", True),
    ("the driver", "司机", True),
    ("the manager", "经理", True),
    ("Tom", "汤姆", True),
    ("Anna", "安娜", True),
    ("Li Ming", "李明", True),
    ("Wang Fang", "王芳", True),
    ("I", "我", False),
    ("we", "我们", False),
    ("they", "他们", False),
    ("you", "你", False),
    ("the children", "孩子们", False),
]

# (base, past, mandarin) transitive verbs used with a counted object
VERBS: list[tuple[str, str, str]] = [
    ("buy", "bought", "买"),
    ("see", "saw", "看见"),
    ("find", "found", "找到"),
    ("sell", "sold", "卖"),
    ("lose", "lost", "丢"),
    ("wash", "washed", "洗"),
    ("borrow", "borrowed", "借"),
    ("draw", "drew", "画"),
    ("take", "took", "拿"),
    ("give away", "gave away", "送走"),
]

# (singular, plural, mandarin, classifier)
OBJECTS: list[tuple[str, str, str, str]] = [
    ("apple", "apples", "苹果", "个"),
    ("book", "books", "书", "本"),
    ("pen", "pens", "笔", "支"),
    ("cat", "cats", "猫", "只"),
    ("dog", "dogs", "狗", "只"),
    ("bicycle", "bicycles", "自行车", "辆"),
    ("car", "cars", "汽车", "辆"),
    ("cup", "cups", "杯子", "个"),
    ("chair", "chairs", "椅子", "把"),
    ("umbrella", "umbrellas", "伞", "把"),
    ("shirt", "shirts", "衬衫", "件"),
    ("hat", "hats", "帽子", "顶"),
    ("flower", "flowers", "花", "朵"),
    ("ticket", "tickets", "票", "张"),
    ("map", "maps", "地图", "张"),
    ("letter", "letters", "信", "封"),
    ("bag", "bags", "包", "个"),
    ("bird", "birds", "鸟", "只"),
    ("fish", "fish", "鱼", "条"),
    ("key", "keys", "钥匙", "把"),
    ("bottle", "bottles", "瓶子", "个"),
    ("table", "tables", "桌子", "张"),
    ("newspaper", "newspapers", "报纸", "份"),
    ("box", "boxes", "盒子", "个"),
    ("kite", "kites", "风筝", "个"),
]

COLOURS: list[tuple[str, str]] = [
    ("red", "红色"),
    ("blue", "蓝色"),
    ("green", "绿色"),
    ("yellow", "黄色"),
    ("white", "白色"),
    ("black", "黑色"),
    ("purple", "紫色"),
    ("orange", "橙色"),
    ("grey", "灰色"),
    ("brown", "棕色"),
    ("pink", "粉色"),
]

# (english with preposition, mandarin with 在)
PLACES: list[tuple[str, str]] = [
    ("at the market", "在市场"),
    ("in the park", "在公园"),
    ("at school", "在学校"),
    ("in the shop", "在商店"),
    ("at the station", "在车站"),
    ("near the river", "在河边"),
    ("in the library", "在图书馆"),
    ("at home", "在家里"),
    ("in the hospital", "在医院"),
    ("at the airport", "在机场"),
    ("in the garden", "在花园里"),
]

# destinations: (english noun phrase, mandarin)
DESTINATIONS: list[tuple[str, str]] = [
    ("the market", "市场"),
    ("the park", "公园"),
    ("school", "学校"),
    ("the shop", "商店"),
    ("the station", "车站"),
    ("the library", "图书馆"),
    ("the hospital", "医院"),
    ("the airport", "机场"),
    ("the museum", "博物馆"),
    ("the cinema", "电影院"),
    ("the beach", "海边"),
]

# (english, mandarin verb phrase) means of transport
VEHICLES: list[tuple[str, str]] = [
    ("by bus", "坐公共汽车"),
    ("by train", "坐火车"),
    ("by taxi", "坐出租车"),
    ("by bike", "骑自行车"),
    ("by subway", "坐地铁"),
    ("by boat", "坐船"),
    ("on foot", "走路"),
]

TIMES: list[tuple[str, str]] = [
    ("tomorrow morning", "明天早上"),
    ("this afternoon", "今天下午"),
    ("tonight", "今天晚上"),
    ("next Monday", "下个星期一"),
    ("next Friday", "下个星期五"),
    ("on Sunday evening", "星期天晚上"),
    ("next week", "下个星期"),
    ("the day after tomorrow", "后天"),
]

CITIES: list[tuple[str, str]] = [
    ("Beijing", "北京"),
    ("Shanghai", "上海"),
    ("London", "伦敦"),
    ("Paris", "巴黎"),
    ("Tokyo", "东京"),
    ("New York", "纽约"),
    ("Sydney", "悉尼"),
    ("Hong Kong", "香港"),
    ("Berlin", "柏林"),
    ("Moscow", "莫斯科"),
    ("Rome", "罗马"),
    ("Cairo", "开罗"),
]

WEATHER: list[tuple[str, str]] = [
    ("very cold", "很冷"),
    ("very hot", "很热"),
    ("warm", "很暖和"),
    ("cool", "很凉快"),
    ("windy", "风很大"),
    ("very good", "很好"),
    ("not good", "不好"),
]

DAYPARTS: list[tuple[str, str]] = [
    ("today", "今天"),
    ("this morning", "今天早上"),
    ("this afternoon", "今天下午"),
    ("tonight", "今天晚上"),
]

SURFACES: list[tuple[str, str]] = [
    ("on the table", "桌子上"),
    ("on the floor", "地上"),
    ("on the bed", "床上"),
    ("on the shelf", "架子上"),
    ("in the car", "车里"),
    ("in the box", "盒子里"),
    ("under the tree", "树下"),
]

TRANSPORT_NOUNS: list[tuple[str, str]] = [
    ("train", "火车"),
    ("bus", "汽车"),
    ("plane", "飞机"),
    ("boat", "船"),
]

EN_NUMBERS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]  # fmt: skip
ZH_DIGITS = "零一二三四五六七八九"


def zh_number(n: int, before_classifier: bool = False) -> str:
    """Mandarin characters for ``0 <= n < 100``; 两 replaces 二 before a measure word."""
    if not 0 <= n < 100:
        raise ValueError(f"zh_number: {n} out of range [0, 100)")
    if n == 2 and before_classifier:
        return "两"
    if n < 10:
        return ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "十" if tens == 1 else ZH_DIGITS[tens] + "十"
    return head + (ZH_DIGITS[ones] if ones else "")


def en_number(n: int) -> str:
    """English words for ``0 <= n <= 20``."""
    if not 0 <= n < len(EN_NUMBERS):
        raise ValueError(f"en_number: {n} out of range")
    return EN_NUMBERS[n]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


@dataclass(frozen=True)
class SentencePair:
    """One aligned sentence: English, Mandarin, and the template that produced it."""

    en: str
    zh: str
    template: str


def _pick(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def _count(rng: np.random.Generator, low: int = 1, high: int = 12) -> int:
    return int(rng.integers(low, high + 1))


def _t_bought(rng: np.random.Generator) -> SentencePair:
    s_en, s_zh, _ = _pick(rng, SUBJECTS)
    v_base, v_past, v_zh = _pick(rng, VERBS)
    o_sg, o_pl, o_zh, cls = _pick(rng, OBJECTS)
    c_en, c_zh = _pick(rng, COLOURS)
    p_en, p_zh = _pick(rng, PLACES)
    n = _count(rng)
    obj = o_sg if n == 1 else o_pl
    en = f"{_cap(s_en)} {v_past} {en_number(n)} {c_en} {obj} {p_en}."
    zh = f"{s_zh}{p_zh}{v_zh}了{zh_number(n, True)}{cls}{c_zh}的{o_zh}。"
    return SentencePair(en, zh, "bought")


def _t_travel(rng: np.random.Generator) -> SentencePair:
    t_en, t_zh = _pick(rng, TIMES)
    s_en, s_zh, _ = _pick(rng, SUBJECTS)
    d_en, d_zh = _pick(rng, DESTINATIONS)
    v_en, v_zh = _pick(rng, VEHICLES)
    en = f"{_cap(t_en)}, {s_en} will go to {d_en} {v_en}."
    zh = f"{t_zh}，{s_zh}会{v_zh}去{d_zh}。"
    return SentencePair(en, zh, "travel")


def _t_how_many(rng: np.random.Generator) -> SentencePair:
    s_en, s_zh, _ = _pick(rng, SUBJECTS)
    v_base, _, v_zh = _pick(rng, VERBS)
    o_sg, o_pl, o_zh, cls = _pick(rng, OBJECTS)
    p_en, p_zh = _pick(rng, PLACES)
    en = f"How many {o_pl} did {s_en} {v_base} {p_en}?"
    zh = f"{s_zh}{p_zh}{v_zh}了几{cls}{o_zh}？"
    return SentencePair(en, zh, "how_many")


def _t_like(rng: np.random.Generator) -> SentencePair:
    s_en, s_zh, sg3 = _pick(rng, SUBJECTS)
    _, o_pl, o_zh, _ = _pick(rng, OBJECTS)
    c_en, c_zh = _pick(rng, COLOURS)
    if rng.random() < 0.5:
        en = f"{_cap(s_en)} {'likes' if sg3 else 'like'} {c_en} {o_pl} very much."
        zh = f"{s_zh}非常喜欢{c_zh}的{o_zh}。"
    else:
        en = f"{_cap(s_en)} {'does' if sg3 else 'do'} not like {c_en} {o_pl}."
        zh = f"{s_zh}不喜欢{c_zh}的{o_zh}。"
    return SentencePair(en, zh, "like")


def _t_weather(rng: np.random.Generator) -> SentencePair:
    d_en, d_zh = _pick(rng, DAYPARTS)
    c_en, c_zh = _pick(rng, CITIES)
    w_en, w_zh = _pick(rng, WEATHER)
    en = f"{_cap(d_en)}, the weather in {c_en} is {w_en}."
    zh = f"{d_zh}{c_zh}的天气{w_zh}。"
    return SentencePair(en, zh, "weather")


def _t_there_are(rng: np.random.Generator) -> SentencePair:
    o_sg, o_pl, o_zh, cls = _pick(rng, OBJECTS)
    c_en, c_zh = _pick(rng, COLOURS)
    s_en, s_zh = _pick(rng, SURFACES)
    n = _count(rng)
    if n == 1:
        en = f"There is one {c_en} {o_sg} {s_en}."
    else:
        en = f"There are {en_number(n)} {c_en} {o_pl} {s_en}."
    zh = f"{s_zh}有{zh_number(n, True)}{cls}{c_zh}的{o_zh}。"
    return SentencePair(en, zh, "there_are")


def _t_been_to(rng: np.random.Generator) -> SentencePair:
    s_en, s_zh, sg3 = _pick(rng, SUBJECTS)
    c_en, c_zh = _pick(rng, CITIES)
    n = _count(rng, 1, 10)
    times = {1: "once", 2: "twice"}.get(n, f"{en_number(n)} times")
    en = f"{_cap(s_en)} {'has' if sg3 else 'have'} been to {c_en} {times}."
    zh = f"{s_zh}去过{c_zh}{zh_number(n, True)}次。"
    return SentencePair(en, zh, "been_to")


def _t_leaves_at(rng: np.random.Generator) -> SentencePair:
    v_en, v_zh = _pick(rng, TRANSPORT_NOUNS)
    c_en, c_zh = _pick(rng, CITIES)
    h = _count(rng, 1, 12)
    # "next week" + an hour reads as a weekday in Mandarin (下个星期六点), so it is left out
    t_en, t_zh = _pick(rng, [t for t in TIMES if t[0] != "next week"])
    en = f"The {v_en} to {c_en} leaves at {en_number(h)} o'clock {t_en}."
    zh = f"去{c_zh}的{v_zh}{t_zh}{zh_number(h, True)}点出发。"
    return SentencePair(en, zh, "leaves_at")


TEMPLATES = {
    "bought": _t_bought,
    "travel": _t_travel,
    "how_many": _t_how_many,
    "like": _t_like,
    "weather": _t_weather,
    "there_are": _t_there_are,
    "been_to": _t_been_to,
    "leaves_at": _t_leaves_at,
}
# Sampling weights: the open-ended templates get more mass; the small ones ("weather", a few
# hundred distinct pairs) would otherwise run out of new sentences.
TEMPLATE_WEIGHTS = {
    "bought": 0.25,
    "travel": 0.15,
    "how_many": 0.12,
    "like": 0.12,
    "weather": 0.04,
    "there_are": 0.14,
    "been_to": 0.08,
    "leaves_at": 0.10,
}


def sample_pair(rng: np.random.Generator) -> SentencePair:
    """Draw one sentence pair (template chosen by :data:`TEMPLATE_WEIGHTS`)."""
    names = list(TEMPLATES)
    p = np.array([TEMPLATE_WEIGHTS[n] for n in names], dtype=np.float64)
    name = names[int(rng.choice(len(names), p=p / p.sum()))]
    return TEMPLATES[name](rng)


def sample_unique_pairs(
    n: int, rng: np.random.Generator, max_tries: int = 50
) -> list[SentencePair]:
    """``n`` pairs with distinct English and distinct Mandarin sentences (a one-to-one map)."""
    out: list[SentencePair] = []
    seen_en: set[str] = set()
    seen_zh: set[str] = set()
    tries = 0
    while len(out) < n:
        pair = sample_pair(rng)
        if pair.en in seen_en or pair.zh in seen_zh:
            tries += 1
            if tries > max_tries * n:
                raise ValueError(f"grammar exhausted after {len(out)} distinct pairs (asked {n})")
            continue
        seen_en.add(pair.en)
        seen_zh.add(pair.zh)
        out.append(pair)
    return out
