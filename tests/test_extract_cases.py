"""Mangled input the rules must read exactly, or refuse to guess (status review)."""

import copy
import re

from layouts import render_pipe_cells, render_pipe_rows, sample_report
from opencc import OpenCC

from gxllm.pipeline import extract_bytes

REPORT = sample_report(7)
APPS = REPORT["applications"]


def extract_text(text: str) -> dict:
    return extract_bytes(text.encode("utf-8"), "report.txt")


def replace_line(text: str, label: str, new: str) -> str:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if label in line)
    lines[index] = new
    return "\n".join(lines)


def kinds(result: dict) -> list[str]:
    return [f["kind"] for f in result["findings"]]


def test_missing_row_is_detected_not_shifted():
    text = "\n".join(line for line in render_pipe_rows(REPORT).splitlines() if "上年结转" not in line)
    result = extract_text(text)
    assert result["status"] == "review"
    assert result["applications"]["carried_over"] == dict.fromkeys(APPS["carried_over"])
    for row in ("new_received", "granted", "partially_granted", "carried_forward"):
        assert result["applications"][row] == APPS[row]
    assert kinds(result) == ["missing"]
    assert result["findings"][0]["cells"][0] == "applications.carried_over.natural_person"


def test_values_under_no_label_make_review():
    text = render_pipe_rows(REPORT)
    partially = next(line for line in text.splitlines() if "部分公开" in line)
    text = text.replace(partially, "合计 | 1 | 2 | 3 | 4 | 5 | 6 | 21 |\n" + partially)
    result = extract_text(text)
    assert result["applications"]["granted"] == APPS["granted"]
    assert result["applications"]["partially_granted"] == APPS["partially_granted"]
    assert result["status"] == "review"
    assert kinds(result) == ["unassigned"]
    assert result["findings"][0]["message"] == "表三: values not under any row label: 1 2 3 4 5 6 21"


def test_traditional_pinyin_fullwidth_radicals_and_invisible_characters():
    text = OpenCC("s2t").convert(render_pipe_cells(REPORT))
    text = text.replace("報", "報(bào)").replace("號", "號(hào)")
    text = text.replace("一、本年新收", "⼀、本年新\u200b收").replace("二、上年", "⼆、上\u00ad年")
    text = re.sub(r"^(\d+) \|$", lambda m: m.group(1).translate(str.maketrans("0123456789", "０１２３４５６７８９")) + " |",
                  text, flags=re.M)
    result = extract_text(text)
    for key in ("active_disclosure", "applications", "reviews_and_lawsuits"):
        assert result[key] == REPORT[key]
    assert result["status"] == "ok"


def test_blank_markers_are_null_never_zero():
    assert not any(APPS["withheld_query_matter"].values())  # identities hold with blanks as 0
    text = render_pipe_rows(REPORT)
    line = next(l for l in text.splitlines() if "行政查询" in l)
    marked = re.sub(r"\| 0 \| 0 \| 0 \| 0 \|", "| — | / | 无 | - |", line, count=1)
    result = extract_text(text.replace(line, marked))
    printed = result["applications"]["withheld_query_matter"]
    assert list(printed.values()).count(None) == 4 and list(printed.values()).count(0) == 3
    assert kinds(result) == ["blank"]


def test_thousands_separators_and_large_counts():
    report = copy.deepcopy(REPORT)
    report["active_disclosure"]["administrative_penalty"]["decisions"] = 3985758
    text = render_pipe_rows(report).replace("3985758", "3,985,758")
    assert "3,985,758" in text
    assert extract_text(text)["active_disclosure"]["administrative_penalty"]["decisions"] == 3985758


def test_2019_procurement_amount_keeps_its_printed_unit():
    from layouts import sample_report_2019

    report = sample_report_2019(2)
    report["active_disclosure"]["government_procurement"]["total_amount_unit"] = "万元"
    result = extract_text(render_pipe_rows(report))
    assert result["report"]["template"] == "2019"
    assert result["active_disclosure"] == report["active_disclosure"]
    assert result["status"] == "ok"


def test_text_among_a_rows_numbers_makes_that_row_unreadable_never_a_number():
    """A footnote mark (16① would be 161 after NFKC) or stray text inside a row's numbers."""
    text = render_pipe_rows(REPORT)
    new = " | ".join(
        ["一、本年新收政府信息公开申请数量"]
        + [f"{APPS['new_received'][c]}①" if c == "commercial_enterprise" else str(APPS["new_received"][c])
           for c in APPS["new_received"]]
    )
    result = extract_text(replace_line(text, "本年新收", new))
    assert result["status"] == "review"
    assert result["applications"]["new_received"] == dict.fromkeys(APPS["new_received"])
    assert [f["message"] for f in result["findings"] if f["kind"] == "unreadable"] == [
        f"row 「一、本年新收政府信息公开申请数量」: 「{APPS['new_received']['commercial_enterprise']} 注」 "
        "among the numbers is not a number"
    ]
