import pytest

from gxllm.tables.layout import split_line
from gxllm.tables.normalize import needs_simplification, normalize_text, squeeze


@pytest.mark.parametrize(
    "raw, simplify, expected",
    [
        ("本報(bào)告依據(jù)", True, "本报告依据"),
        ("國(guó)辦公開辦函〔2021〕30號(hào)", True, "国办公开办函〔2021〕30号"),
        ("（一）予以公开", False, "(一)予以公开"),
        ("(單位:萬元)", True, "(单位:万元)"),
        ("网站支持IPv6 (IPv6)", False, "网站支持IPv6 (IPv6)"),
        ("１２３，４５６", False, "123,456"),
        ("⼀、本年新收", False, "一、本年新收"),
        ("⼆、上年结转", False, "二、上年结转"),
        ("本年\u200b新收\ufeff\u0007", False, "本年新收"),
        ("自然\u00a0人\u3000", False, "自然 人 "),
        ("⻅⻓", False, "见长"),
        ("3.危及“三安全一稳定”", False, '3.危及"三安全一稳定"'),
    ],
)
def test_normalize_text(raw, simplify, expected):
    assert normalize_text(raw, simplify=simplify) == expected


def test_squeeze_joins_labels_broken_by_spaces_and_lines():
    assert squeeze("三、本 年度办理 结果") == "三、本年度办理结果"
    assert squeeze("( 一 )予以公开") == "(一)予以公开"


def test_traditional_only_characters_are_opencc_s():
    """The constant is what OpenCC's character dictionary says: a character whose simplified
    candidates do not include itself."""
    import importlib.util
    import os

    from gxllm.tables.traditional import TRADITIONAL_ONLY

    package = os.path.dirname(importlib.util.find_spec("opencc").origin)
    with open(os.path.join(package, "dictionary", "TSCharacters.txt"), encoding="utf-8") as f:
        pairs = [line.partition("\t")[::2] for line in f.read().splitlines()]
    expected = {t for t, s in pairs if len(t) == 1 and s.split() and t not in s.split()}
    assert TRADITIONAL_ONLY == expected, "regenerate src/gxllm/traditional.py from: " + "".join(sorted(expected))


def test_normalising_leaves_plain_text_as_it_is():
    """The characters normalize_text returns untouched without looking (ASCII, CJK ideographs,
    、。《》) are ones the full normalisation leaves alone too."""
    from gxllm.tables.normalize import _UNCHANGED, _normalized

    kept = [chr(c) for c in range(0x10000) if _UNCHANGED.fullmatch(chr(c))]
    assert len(kept) == 1 + 95 + 4 + 0x5200  # tab, printable ASCII, 、。《》, U+4E00–U+9FFF
    assert [c for c in kept if _normalized.__wrapped__(c, False) != c] == []


def test_simplification_is_decided_by_the_document():
    assert needs_simplification("本報告依據《中華人民共和國政府信息公開條例》國務院辦公廳關於")
    assert not needs_simplification("本报告依据《中华人民共和国政府信息公开条例》编制。著作权归属。")


@pytest.mark.parametrize(
    "line, cells",
    [
        ("一、本年新收 | 31 | 0 |  | 0 | 31 | |||", ["一、本年新收", "31", "0", "", "0", "31"]),
        ("0 |", ["0"]),
        ("|", [""]),
        ("||||", []),
        ("\u00a0 ", [""]),
        ("", []),
        ("| 规章 | 1 | 0 | 11 |", ["规章", "1", "0", "11"]),
        ("|---|---|", []),
        ("规章\t1\t0\t11", ["规章", "1", "0", "11"]),
        ("     （七）总计     2932   53 0", ["（七）总计", "2932", "53", "0"]),
        ("  总 计 结果 维持", ["总计结果维持"]),
        ("                 -4-", []),
        ("第 3 页", []),
        ("行政处罚   3,985,758", ["行政处罚", "3,985,758"]),
    ],
)
def test_split_line(line, cells):
    assert [c.text for c in split_line(line)] == cells


def test_space_layout_cells_carry_positions():
    cells = split_line("规章            1          0        11")
    assert [(c.text, c.pos) for c in cells] == [("规章", 0.0), ("1", 14.5), ("0", 25.5), ("11", 35.0)]
