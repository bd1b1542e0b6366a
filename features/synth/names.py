"""Chinese names (with pinyin), 18-digit resident ID numbers, phones and addresses."""

from __future__ import annotations

from datetime import date

import numpy as np

# The 30 most common surnames with rough shares (Ministry of Public Security household
# registration report 2020: Wang 7.1%, Li 7.0%, Zhang 6.6%, Liu 5.4%, Chen 4.6% ...),
# renormalised over this list.
SURNAMES: list[tuple[str, str, float]] = [
    ("王", "Wang", 7.1), ("李", "Li", 7.0), ("张", "Zhang", 6.6), ("刘", "Liu", 5.4),
    ("陈", "Chen", 4.6), ("杨", "Yang", 3.1), ("黄", "Huang", 2.4), ("赵", "Zhao", 2.3),
    ("吴", "Wu", 2.0), ("周", "Zhou", 1.9), ("徐", "Xu", 1.7), ("孙", "Sun", 1.5),
    ("马", "Ma", 1.5), ("朱", "Zhu", 1.3), ("胡", "Hu", 1.3), ("郭", "Guo", 1.2),
    ("何", "He", 1.2), ("林", "Lin", 1.1), ("高", "Gao", 1.1), ("罗", "Luo", 1.0),
    ("郑", "Zheng", 1.0), ("梁", "Liang", 0.9), ("谢", "Xie", 0.8), ("宋", "Song", 0.7),
    ("唐", "Tang", 0.7), ("许", "Xu", 0.6), ("韩", "Han", 0.6), ("冯", "Feng", 0.6),
    ("邓", "Deng", 0.6), ("曹", "Cao", 0.5),
]
GIVEN_MALE: list[tuple[str, str]] = [
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("勇", "yong"),
    ("杰", "jie"), ("涛", "tao"), ("斌", "bin"), ("超", "chao"), ("明", "ming"),
    ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("鹏", "peng"), ("华", "hua"),
    ("建", "jian"), ("国", "guo"), ("志", "zhi"), ("文", "wen"), ("浩", "hao"),
    ("宇", "yu"), ("俊", "jun"), ("海", "hai"), ("东", "dong"), ("林", "lin"),
]
GIVEN_FEMALE: list[tuple[str, str]] = [
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("艳", "yan"), ("娟", "juan"), ("霞", "xia"), ("秀", "xiu"), ("英", "ying"),
    ("玲", "ling"), ("婷", "ting"), ("雪", "xue"), ("慧", "hui"), ("红", "hong"),
    ("梅", "mei"), ("琳", "lin"), ("燕", "yan"), ("萍", "ping"), ("欣", "xin"),
    ("佳", "jia"), ("颖", "ying"), ("兰", "lan"), ("凤", "feng"), ("倩", "qian"),
]
# Homophone / look-alike substitutions registration clerks commonly make.
TYPOS: dict[str, str] = {
    "伟": "玮", "明": "铭", "华": "桦", "静": "晶", "丽": "莉", "玲": "琳", "琳": "玲",
    "英": "瑛", "芳": "方", "红": "虹", "军": "君", "杰": "洁", "国": "郭", "辉": "晖",
    "敏": "民", "燕": "艳", "艳": "燕", "婷": "亭", "俊": "骏", "海": "梅", "东": "冬",
    "平": "萍", "萍": "平", "建": "健", "志": "智", "文": "雯", "浩": "皓", "宇": "雨",
    "鹏": "朋", "涛": "滔", "斌": "彬", "超": "朝", "娜": "那", "霞": "夏", "秀": "绣",
    "雪": "学", "慧": "惠", "梅": "玫", "欣": "馨", "佳": "嘉", "颖": "莹", "兰": "岚",
    "凤": "风", "倩": "茜", "磊": "垒", "强": "墙", "勇": "永", "刚": "钢", "娟": "涓",
    "林": "琳",
}
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平路", "长江路", "黄河路", "新华路",
           "胜利路", "光明路", "朝阳路", "学府路"]
_SUR_P = np.array([s[2] for s in SURNAMES])
_SUR_P = _SUR_P / _SUR_P.sum()

_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of GB 11643-1999."""
    s = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[s % 11]


def resident_id(area: str, birth: date, seq: int, male: bool) -> str:
    """18-digit resident ID: area(6) + birth(8) + order(3, odd=male) + check.

    ``seq`` is the 0-based number of people of this sex already given an ID for this
    (area, birth date); distinct ``seq`` give distinct IDs (up to 500 per day and sex)."""
    order = (seq % 500) * 2 + (1 if male else 2)
    body = f"{area}{birth:%Y%m%d}{order:03d}"
    return body + id_check_digit(body)


def valid_resident_id(rid: str) -> bool:
    return (len(rid) == 18 and rid[:17].isdigit()
            and id_check_digit(rid[:17]) == rid[17].upper())


def person_name(rng: np.random.Generator, male: bool) -> tuple[str, str]:
    """(characters, pinyin 'Wang Xiuying')."""
    s = SURNAMES[int(rng.choice(len(SURNAMES), p=_SUR_P))]
    pool = GIVEN_MALE if male else GIVEN_FEMALE
    k = 1 if rng.random() < 0.3 else 2
    idx = rng.choice(len(pool), size=k)
    given = [pool[int(i)] for i in idx]
    zh = s[0] + "".join(g[0] for g in given)
    py = s[1] + " " + ("".join(g[1] for g in given)).capitalize()
    return zh, py


def typo_name(rng: np.random.Generator, name: str) -> str:
    """Replace one given-name character by a homophone or look-alike."""
    positions = [i for i in range(1, len(name)) if name[i] in TYPOS]
    if not positions:
        return name
    i = positions[int(rng.integers(len(positions)))]
    return name[:i] + TYPOS[name[i]] + name[i + 1:]


def phone(rng: np.random.Generator) -> str:
    prefix = ["138", "139", "136", "137", "150", "151", "158", "186", "187", "189", "133"]
    return prefix[int(rng.integers(len(prefix)))] + f"{int(rng.integers(0, 10**8)):08d}"


def address(rng: np.random.Generator, region_zh: str) -> str:
    street = STREETS[int(rng.integers(len(STREETS)))]
    return (f"{region_zh}{street}{int(rng.integers(1, 999))}号"
            f"{int(rng.integers(1, 30))}栋{int(rng.integers(101, 2205))}室")


def transpose_birth(birth: date) -> date | None:
    """Swap the two day digits (12 -> 21) or month digits when that is still a date."""
    for text in (f"{birth:%Y%m}{birth.day:02d}"[:6] + f"{birth.day:02d}"[::-1],
                 f"{birth.year}{birth.month:02d}"[:4] + f"{birth.month:02d}"[::-1]
                 + f"{birth.day:02d}"):
        try:
            d = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            continue
        if d != birth:
            return d
    return None
