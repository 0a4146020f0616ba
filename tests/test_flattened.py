"""Tables flattened into running text: cells and digits run together, read by the identities.

The splitter's rules one by one, then the family rendered from consistent sample reports (text,
one line, a page's <p>, a PDF's running text), the golden outputs of the real reports' tables
flattened (tests/fixtures/flattened, made by regenerate_flattened.py), and what the LLM fallback,
the review and the CLI do with them.
"""

import copy
import json
import re
from pathlib import Path

import pytest
from layouts import (
    collapse_other,
    render_flattened,
    render_flattened_html,
    sample_report,
    sample_report_2019,
    with_subtotal,
)
from pdfs import render_flattened_pdf
from test_cli import run

from gxllm import template as T
from gxllm.llm.request import LLMAnswer
from gxllm.pipeline import extract_bytes
from gxllm.review.conflicts import review, to_csv
from gxllm.review.page import render_html
from gxllm.tables.layout import flattened_pieces
from gxllm.tables.split import BUDGET, split_row

CANONICAL = ("active_disclosure", "applications", "reviews_and_lawsuits")
COUNTS = ["count"] * 7
T3_ROW = [T.SumInstance("T3-row", "总计", (6,), (0, 1, 2, 3, 4, 5))]


def instances_of(shape: T.Shape, row: str) -> list[T.SumInstance]:
    index = {(row, c.key): n for n, c in enumerate(shape.columns)}
    return [
        T.SumInstance(i.identity, i.where, tuple(index[c] for c in i.lhs), tuple(index[c] for c in i.rhs))
        for i in shape.sum_instances
        if all(c in index for c in i.cells)
    ]


# --- the splitter, rule by rule ---------------------------------------------------------------


def test_the_row_identity_decides_the_boundaries():
    assert split_row(["21710000218"], COUNTS, T3_ROW).candidates == [(217, 1, 0, 0, 0, 0, 218)]


def test_no_leading_zeros_but_zero_itself():
    # 7 zeros are 7 cells: "00" is never a number, so nothing else fits
    assert split_row(["0000000"], COUNTS, T3_ROW).candidates == [(0,) * 7]
    # "105" in two count cells: 1|05 is no split, 10|5 is
    assert split_row(["105"], ["count", "count"]).candidates[0] == (10, 5)
    assert (1, 5) not in split_row(["105"], ["count", "count"]).candidates


def test_spaces_are_boundaries_never_inside_a_number():
    assert split_row(["230 000023"], COUNTS, T3_ROW).candidates == [(23, 0, 0, 0, 0, 0, 23)]
    assert split_row(["0 0 00 00 0"], COUNTS, T3_ROW).candidates == [(0,) * 7]
    # a space between 2 and 3 rules out 23
    assert split_row(["2 30 0 0 0 0 5"], COUNTS, T3_ROW).candidates == []


def test_a_line_break_inside_a_run_is_not_a_boundary():
    assert split_row(["2171000", "0218"], COUNTS, T3_ROW).candidates == [(217, 1, 0, 0, 0, 0, 218)]


def test_the_next_rows_numbering_is_not_part_of_the_run():
    text = "(三)不予公开1.属于国家秘密00000002.其他法律行政法规禁止公开0000000(七)总计5000005四、结转下年度继续办理0000000"
    assert flattened_pieces(text) == [
        "(三)不予公开", "1.属于国家秘密", "0000000", "2.其他法律行政法规禁止公开", "0000000",
        "(七)总计", "5000005", "四、结转下年度继续办理", "0000000",
    ]  # fmt: skip


def test_lines_that_are_not_a_flattened_table_are_left_alone():
    assert flattened_pieces("淮安市人民政府2024年度政府信息公开工作年度报告") is None
    assert flattened_pieces("本年新收政府信息公开申请218件,上年结转5件。") is None  # a sentence
    assert flattened_pieces("一、本年新收政府信息公开申请数量 217 1 0 0 0 0 218") is None  # spaced: cells


def test_negative_cells_only_where_the_column_is_signed():
    # 2019 表二 行政许可: 上一年项目数量 | 本年增/减 | 处理决定数量
    kinds = [c.kind for c in T.active_disclosure_shape("2019").row("administrative_licensing").columns]
    assert split_row(["35-15"], kinds).candidates == [(35, -1, 5), (35, -15, None)]
    assert split_row(["35-15"], ["count"] * 3).candidates == []
    # 行政事业性收费 has two columns: the sign starts 本年增/减
    kinds = [c.kind for c in T.active_disclosure_shape("2019").row("administrative_fees").columns]
    assert split_row(["257-13"], kinds).candidates == [(257, -13)]


def test_decimals_only_where_the_column_is_an_amount():
    assert split_row(["18651.06"], ["money"]).candidates == [(18651.06,)]
    assert split_row(["18651.06"], ["count"]).candidates == []
    procurement = [c.kind for c in T.active_disclosure_shape("2019").row("government_procurement").columns]
    assert split_row(["824538.84"], procurement).candidates[:3] == [(8, 24538.84), (82, 4538.84), (824, 538.84)]


def test_thousands_separators_group_three_digits():
    assert split_row(["3,985,758"], ["count"]).candidates == [(3985758,)]
    assert split_row(["39,85"], ["count"]).candidates == []


def test_every_split_that_keeps_the_identity_is_kept_not_one_picked():
    split = split_row(["283023036"], COUNTS, T3_ROW)
    assert split.candidates == [(2, 8, 3, 0, 23, 0, 36), (28, 3, 0, 2, 3, 0, 36)]
    assert split.unique is None


def test_a_cell_printed_as_nothing_leaves_the_row_ambiguous_among_its_zeros():
    split = split_row(["000 000"], COUNTS, T3_ROW)
    # the blank may be any of the 7 cells, the total too (a zero total printed as nothing)
    assert len(split.candidates) == 7 and all(c.count(None) == 1 for c in split.candidates)


def test_a_source_whose_arithmetic_is_wrong_is_not_repaired():
    # 5 + 0 + … ≠ 4: no split keeps T3-row; the splits that break it are kept, and say so
    split = split_row(["5000004"], COUNTS, T3_ROW)
    assert split.candidates == [(5, 0, 0, 0, 0, 0, 4)]
    assert split.failing == split.broken == ("T3-row 总计",)


def test_a_pathological_run_ends_in_bounded_steps_and_is_left_unread():
    split = split_row(["5" * 200], COUNTS, T3_ROW)
    assert split.candidates == [] and split.steps <= 8  # more digits than 7 cells can print
    split = split_row(["1" * 60], COUNTS, T3_ROW)
    assert split.unique is None and split.steps <= BUDGET * (len(T3_ROW) + 1)
    t4 = T.REVIEWS_SHAPE
    cells = {(r.key, c.key): n for n, (r, c) in enumerate(t4.cell_paths())}
    groups = [T.SumInstance(i.identity, i.where, tuple(cells[c] for c in i.lhs), tuple(cells[c] for c in i.rhs)) for i in t4.sum_instances]
    split = split_row(["7" * 120], ["count"] * 15, groups)
    assert split.unique is None and split.steps <= BUDGET * 4


def test_a_total_printed_last_or_after_its_parts_cuts_the_search_short():
    # 35,030 and 14,450 steps before a branch was cut once no number ending the row (or following
    # a group's last part) could still be the parts' total
    split = split_row(["1591929272415273"], COUNTS, T3_ROW)
    assert split.candidates == [(159, 19, 29, 27, 24, 15, 273)] and split.steps <= 4100
    t4 = T.REVIEWS_SHAPE
    cells = {(r.key, c.key): n for n, (r, c) in enumerate(t4.cell_paths())}
    groups = [T.SumInstance(i.identity, i.where, tuple(cells[c] for c in i.lhs), tuple(cells[c] for c in i.rhs)) for i in t4.sum_instances]
    split = split_row(["0 144947110 2838573415759024083"], ["count"] * 15, groups)
    assert split.candidates == [(0, 14, 49, 47, 110, 28, 38, 57, 34, 157, 59, 0, 24, 0, 83)] and split.steps <= 2500


# --- the family, from consistent sample reports -----------------------------------------------

SAMPLES = {
    "2021": sample_report(11),
    "2019": sample_report_2019(12),
    "subtotal": with_subtotal(sample_report(13)),
    "2021_t2_collapsed_t3": collapse_other(sample_report(14)),
}
RENDERERS = {
    "table_per_line": lambda r, seed: (render_flattened(r, seed=seed).encode(), "report.txt"),
    "one_line": lambda r, seed: (render_flattened(r, seed=seed, one_line=True).encode(), "report.txt"),
    "no_spaces": lambda r, seed: (render_flattened(r, seed=seed, spaces=0, broken_labels=0).encode(), "report.txt"),
    "html_paragraph": lambda r, seed: (render_flattened_html(r, seed=seed), "report.html"),
    "pdf_running_text": lambda r, seed: (render_flattened_pdf(r, seed=seed), "report.pdf"),
}


def never_wrong(result: dict, report: dict) -> list[str]:
    """Cells read with a value other than the report's (a null is unread, not wrong)."""
    return [
        f"{table}.{row}.{column}: {result[table][row][column]} != {value}"
        for table in CANONICAL
        for row, columns in report[table].items()
        for column, value in columns.items()
        if result[table][row][column] is not None and result[table][row][column] != value
    ]


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_flattened_tables_are_read_by_their_identities_never_wrongly(renderer, sample):
    report = SAMPLES[sample]
    result = extract_bytes(*RENDERERS[renderer](report, len(sample)))
    assert result["tables_absent"] == []
    assert result["report"]["template"] == report["report"]["template"]
    assert never_wrong(result, report) == []
    # 表三's 25 rows are all decided: by each row's identity, then by the column identities
    assert result["applications"] == report["applications"]
    cells = result["provenance"]["applications"]["cells"]
    assert all(cells[f"{r}.{c}"] == {"line": cells[f"{r}.{c}"]["line"], **({"page": 1} if "page" in cells[f"{r}.{c}"] else {}),
               **({"table": cells[f"{r}.{c}"]["table"]} if "table" in cells[f"{r}.{c}"] else {}), "source": "rules", "split": True}
               for r, cols in report["applications"].items() for c in cols)  # fmt: skip
    split = [f for f in result["findings"] if f["kind"] == "digits_split" and f["table"] == "applications"]
    assert len(split) == 1 and len(split[0]["rows"]) == len(report["applications"])
    unread = {c for f in result["findings"] if f["kind"] == "unreadable" for c in f["cells"]}
    nulls = {f"{t}.{r}.{c}" for t in CANONICAL for r, cols in result[t].items() for c, v in cols.items()
             if v is None and report[t][r][c] is not None and not c.endswith("_unit")}  # fmt: skip
    assert nulls == unread  # every cell left null is in an unreadable finding, with its candidates
    assert result["status"] == ("review" if unread else "ok")


def test_a_blank_cell_printed_as_nothing_is_never_guessed():
    report = copy.deepcopy(SAMPLES["2021"])
    apps = report["applications"]
    for column in ("research_institution", "legal_service_org"):
        assert apps["granted"][column] == 0
        apps["granted"][column] = None
    result = extract_bytes(render_flattened(report, seed=3, spaces=0).encode(), "report.txt")
    assert never_wrong(result, report) == []
    granted = [f for f in result["findings"] if f["kind"] == "unreadable" and "applications.granted.total" in f["cells"]]
    if result["applications"]["granted"] == apps["granted"]:
        assert not granted  # decided: the blanks' places were the only ones the columns allow
    else:
        assert result["applications"]["granted"] == dict.fromkeys(apps["granted"])
        assert granted and granted[0]["candidate_count"] >= 2
    assert result["status"] == "review" or result["applications"]["granted"] == apps["granted"]


def test_the_section_on_one_line_with_the_2019_template():
    report = SAMPLES["2019"]
    text = render_flattened(report, seed=5, one_line=True)
    assert text.count("\n") == 1
    result = extract_bytes(text.encode(), "report.txt")
    assert result["table_shapes"] == {"active_disclosure": "2019", "applications": "2019"}
    assert result["applications"] == report["applications"]


def test_a_printed_error_in_a_flattened_table_is_flagged_with_its_identity():
    report = copy.deepcopy(SAMPLES["2021"])
    report["applications"]["total_processed"]["natural_person"] += 1  # 三(七) misprinted
    report["applications"]["total_processed"]["total"] += 1
    result = extract_bytes(render_flattened(report, seed=1).encode(), "report.txt")
    assert result["status"] == "review"
    assert never_wrong(result, report) == []
    failing = sorted({f["identity"] for f in result["findings"] if f["kind"] == "identity"})
    assert failing == ["T3-flow", "T3-results"]


def test_a_row_whose_total_is_misprinted_is_named_and_decided_by_the_other_identities():
    report = copy.deepcopy(SAMPLES["2021"])
    report["applications"]["granted"]["total"] += 1  # T3-row fails for every split of that row
    result = extract_bytes(render_flattened(report, seed=2, spaces=0).encode(), "report.txt")
    assert never_wrong(result, report) == []
    assert result["applications"]["granted"] == report["applications"]["granted"]
    named = [(f["identity"], f["cells"]) for f in result["findings"] if f["kind"] == "identity"]
    assert ("T3-row", [f"applications.granted.{c}" for c in ("total", *(c.key for c in T.APPLICANT_COLUMNS))]) in named


# --- golden outputs: the real reports' tables, flattened --------------------------------------

GOLDEN = sorted((Path(__file__).parent / "fixtures" / "flattened").glob("*/source.*"))


@pytest.mark.parametrize("source", GOLDEN, ids=[p.parent.name for p in GOLDEN])
def test_golden_output(source: Path):
    expected = json.loads((source.parent / "expected.json").read_text("utf-8"))
    gold = json.loads((source.parent / "gold.json").read_text("utf-8"))
    result = extract_bytes(source.read_bytes(), source.name)
    assert {k: result[k] for k in expected} == expected
    assert never_wrong(result, {t: {r: {c: v for c, v in cols.items() if not c.endswith("_unit")}
                                    for r, cols in (gold.get(t) or {}).items()} for t in CANONICAL}) == []  # fmt: skip
    # a report whose own arithmetic is wrong is review, with the identity named
    named = {f.get("identity") for f in result["findings"] if f["kind"] == "identity"}
    assert {i["identity"] for i in gold.get("source_inconsistencies", [])} <= named


# --- LLM fallback, review, CLI ----------------------------------------------------------------

def test_rules_only_leave_an_ambiguous_row_null_with_its_candidates():
    text = render_flattened(SAMPLES["2021"], seed=0)
    result = extract_bytes(text.encode(), "report.txt")
    rows = [f for f in result["findings"] if f["kind"] == "unreadable"]
    for finding in rows:
        assert 2 <= finding["candidate_count"]
        assert len(finding["candidates"]) == min(5, finding["candidate_count"])
        assert re.search(r"the glued digits 「[\d □.-]+」", finding["message"])


class Reader:
    """A fake LLM reader: answers with `choose(shape, text)` and records what it was sent."""

    def __init__(self, choose):
        self.choose, self.texts = choose, []

    def __call__(self, shape, text):
        self.texts.append(text)
        values = self.choose(shape, text)
        return LLMAnswer(shape.table, "fake", "tools", values, input_tokens=100, output_tokens=10, attempts=1)


def first_candidate(result_rules: dict):
    """An LLM that picks the first listed candidate of each ambiguous row (and copies the rest)."""

    def choose(shape, text):
        values = {r.key: dict((result_rules.get(shape.table) or {}).get(r.key) or {}) for r in shape.rows}
        for finding in result_rules["findings"]:
            if finding["kind"] == "unreadable" and finding["cells"][0].startswith(shape.table + "."):
                for path, value in zip(finding["cells"], finding["candidates"][0]):
                    _, row, column = path.split(".")
                    values[row][column] = value
        return {r.key: {c.key: values[r.key].get(c.key) for c in shape.columns_of(r)} for r in shape.rows}

    return choose


def test_the_llm_gets_the_glued_text_with_the_candidate_splits_and_is_verified():
    report = SAMPLES["2021"]
    data = render_flattened(report, seed=0).encode()
    rules = extract_bytes(data, "report.txt")
    unread = [f for f in rules["findings"] if f["kind"] == "unreadable"]
    assert unread  # 表二's multi-number rows and 表四 here
    reader = Reader(first_candidate(rules))
    result = extract_bytes(data, "report.txt", llm="auto", reader=reader)
    sent = "\n".join(reader.texts)
    assert "Splits of glued digits that keep the identities (the rules could not choose):" in sent
    assert "三、收到和处理" not in reader.texts[0]  # 表二's own pieces, not the whole report
    for finding in unread:
        assert finding["run"] in sent
    kinds = {f["kind"] for f in result["findings"]}
    assert "read_by_llm" in kinds and "unreadable" not in kinds
    for finding in unread:
        for path, value in zip(finding["cells"], finding["candidates"][0]):
            table, row, column = path.split(".")
            assert result[table][row][column] == value
            assert result["provenance"][table]["cells"][f"{row}.{column}"]["source"] == "llm"


def test_an_llm_reading_that_is_not_a_split_of_the_printed_digits_is_refused():
    report = SAMPLES["2021"]
    data = render_flattened(report, seed=0).encode()
    rules = extract_bytes(data, "report.txt")
    ambiguous = next(f for f in rules["findings"] if f["kind"] == "unreadable" and f["cells"][0].startswith("active"))
    row = ambiguous["cells"][0].split(".")[1]

    def invent(shape, text):
        values = first_candidate(rules)(shape, text)
        if shape.table == "active_disclosure":
            values[row] = {k: 1 for k in values[row]}  # digits that were never printed
        return values

    result = extract_bytes(data, "report.txt", llm="auto", reader=Reader(invent))
    assert set(result["active_disclosure"][row].values()) == {None}
    refused = [f for f in result["findings"] if f["kind"] == "llm_unverified" and f["cells"] == ambiguous["cells"]]
    assert refused[0]["message"] == (
        f"the LLM read 1|1|1, which is not a split of the printed digits 「{ambiguous['run']}」; the cells stay unread"
    )
    assert any(f["kind"] == "unreadable" and f["cells"] == ambiguous["cells"] for f in result["findings"])
    assert result["status"] == "review"


def test_review_shows_split_cells_and_the_candidate_splits():
    report = copy.deepcopy(SAMPLES["2021"])
    report["applications"]["total_processed"]["natural_person"] += 1
    report["applications"]["total_processed"]["total"] += 1
    result = extract_bytes(render_flattened(report, seed=1).encode(), "report.txt")
    reviews = review([result])
    csv_text = to_csv(reviews)
    header = csv_text.splitlines()[0].split(",")
    assert header[header.index("identity_failures") + 1] == "candidates"
    ambiguous = next(f for f in result["findings"] if f["kind"] == "unreadable")
    first = ambiguous["cells"][0]
    line = next(line for line in csv_text.splitlines() if f",{first}," in line)
    values = list(dict.fromkeys(c[0] for c in ambiguous["candidates"]))
    assert " | ".join("blank" if v is None else str(v) for v in values) in line
    page = render_html([result], reviews)
    assert re.search(r'<td class="(i )?s"', page)  # split cells are marked in the table
    assert "候选拆分 candidate splits" in page
    # a misprinted row total: its row was split by the column identities, and its cells say so
    misprint = copy.deepcopy(SAMPLES["2021"])
    misprint["applications"]["granted"]["total"] += 1
    result = extract_bytes(render_flattened(misprint, seed=2, spaces=0).encode(), "report.txt")
    page = render_html([result], review([result]))
    assert "<dt>拆分 split</dt><dd>由勾稽关系从粘连数字中拆出 split from glued digits by the identities</dd>" in page


def test_cli_reads_a_flattened_report_rules_only(tmp_path, capsys):
    source = tmp_path / "flat.txt"
    source.write_text(render_flattened(SAMPLES["subtotal"], seed=4, one_line=True), "utf-8")
    code, out, err = run(capsys, "extract", source, "--llm", "never")
    result = json.loads(out)
    assert err == "" and code == (1 if result["status"] == "review" else 0)
    assert result["applications"] == SAMPLES["subtotal"]["applications"]
    assert "legal_person_subtotal" in result["applications"]["new_received"]
