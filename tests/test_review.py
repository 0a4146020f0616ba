"""`gxllm review --format csv|md` and `gxllm apply`: the conflicts out, the decisions back in."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from layouts import render_pipe_rows, sample_report
from review_cases import consistent, disagreeing, misprinted, unreadable

from gxllm.cli import main
from gxllm.pipeline import extract_bytes
from gxllm.review.apply import DecisionError, read_decisions
from gxllm.review.conflicts import CONFLICT_FIELDS, review

TRUTH = {"disagree": sample_report(2), "misprint": sample_report(3), "unreadable": sample_report(4)}


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def results_file(tmp_path) -> Path:
    path = tmp_path / "results.jsonl"
    results = [consistent(1), disagreeing(2), misprinted(3), unreadable(4)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), "utf-8")
    return path


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def decide(rows: list[dict], truth=TRUTH, note: str = "checked against the printed report") -> list[dict]:
    """Fill in what a reviewer reading the printed report would: its true values."""
    for row in rows:
        report = truth[Path(row["source"]).stem.split("-")[0]]
        table, key, column = row["cell"].split(".")
        row["resolved_value"], row["note"] = report[table][key][column], note
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, CONFLICT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_csv_has_one_row_per_conflicting_cell_with_both_values_and_failing_arithmetic(results_file, capsys):
    code, out, err = run(capsys, "review", results_file, "--format", "csv")
    rows = rows_of(out)
    assert code == 0 and tuple(rows[0]) == CONFLICT_FIELDS
    assert err == "review: 3 report(s) to review, 9 conflicting cell(s); 1 ok, 0 failed\n"
    by_source = {}
    for row in rows:
        by_source.setdefault(Path(row["source"]).stem, []).append(row)
    assert sorted(by_source) == ["disagree-2", "misprint-3", "unreadable-4"]  # the ok report has no row
    [disagreement] = by_source["disagree-2"]
    assert {k: disagreement[k] for k in ("table", "row_label", "column_label", "cell", "value", "rules_value", "llm_value", "kinds")} == {
        "table": "表三",
        "row_label": "一、本年新收政府信息公开申请数量",
        "column_label": "自然人",
        "cell": "applications.new_received.natural_person",
        "value": "152",
        "rules_value": "152",
        "llm_value": "153",
        "kinds": "disagreement",
    }
    [misprint] = by_source["misprint-3"]  # the one cell in both failing identities
    assert (misprint["cell"], misprint["kinds"]) == ("applications.new_received.natural_person", "identity")
    assert misprint["identity_failures"] == (
        "T3-row 一、本年新收政府信息公开申请数量: 总计: 299 ≠ 自然人+商业企业+科研机构+社会公益组织+法律服务机构+其他: "
        "166+31+22+31+31+19=300; T3-flow 自然人: 一+二: 166+11=177 ≠ 三(七)+四: 158+18=176"
    )
    unread = by_source["unreadable-4"]
    assert [r["cell"] for r in unread] == [f"applications.partially_granted.{c}" for c in (
        "natural_person", "commercial_enterprise", "research_institution", "public_interest_org",
        "legal_service_org", "other_org", "total")]  # fmt: skip
    assert {(r["kinds"], r["value"], r["resolved_value"], r["note"]) for r in unread} == {("unreadable", "", "", "")}


def test_a_batch_of_agreements_has_nothing_to_review(tmp_path, capsys):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps([consistent(1), consistent(5)], ensure_ascii=False), "utf-8")
    code, out, _ = run(capsys, "review", path, "-o", tmp_path / "review.csv")
    assert code == 0 and (tmp_path / "review.csv").read_text("utf-8") == ",".join(CONFLICT_FIELDS) + "\n"
    code, out, _ = run(capsys, "review", path, "--format", "md")
    assert out == "# gxllm review\n\n2 reports: 2 ok, 0 review, 0 failed; 0 conflicting cells.\nLLM: 6 calls, 6000+1200 tokens, cost 0.006.\n"


def test_markdown_lists_notes_and_the_conflicting_cells(results_file, capsys):
    code, out, _ = run(capsys, "review", results_file, "--format", "md", "-q")
    section = out.split("## ")[3]
    assert section.splitlines()[:5] == [
        "通化市自然资源和规划局 2021",
        "",
        f"`{review([json.loads(results_file.read_text('utf-8').splitlines()[3])])[0].report_id}` · reports/unreadable-4.txt",
        "- llm_not_configured: 表三: the rules left unreadable findings, but no LLM is configured; "
        "set OPENAI_API_KEY (and OPENAI_BASE_URL), or use --llm-endpoint local",
        "",
    ]
    assert "| 表三 | (二)部分公开 | 自然人 | `applications.partially_granted.natural_person` |  |  |  | unreadable |  |" in section


def test_decisions_round_trip_through_apply_until_nothing_is_left(results_file, tmp_path, capsys):
    _, out, _ = run(capsys, "review", results_file, "--format", "csv")
    decisions = write_csv(tmp_path / "decisions.csv", decide(rows_of(out)))
    code, out, err = run(capsys, "apply", results_file, decisions)
    assert (code, err) == (0, "")
    assert out == "applied 9 decision(s) to 3 report(s); 3 result(s) changed\nnothing left to review\n"
    results = [json.loads(line) for line in results_file.read_text("utf-8").splitlines()]
    assert [r["status"] for r in results] == ["ok"] * 4
    assert [f["kind"] for r in results for f in r["findings"]] == []  # every conflict settled, none hidden
    misprint = results[2]
    assert misprint["applications"]["new_received"]["natural_person"] == 165
    assert misprint["provenance"]["applications"]["cells"]["new_received.natural_person"] == {
        "line": 24, "previous": 166, "source": "human", "note": "checked against the printed report"}  # fmt: skip
    assert results[3]["applications"]["partially_granted"] == TRUTH["unreadable"]["applications"]["partially_granted"]
    _, out, _ = run(capsys, "review", results_file, "--format", "csv")
    assert rows_of(out) == []
    code, out, _ = run(capsys, "apply", results_file, decisions)  # again: nothing more to do
    assert (code, out.splitlines()[0]) == (0, "applied 9 decision(s) to 3 report(s); 0 result(s) changed")


def test_apply_says_exactly_what_is_still_open(results_file, tmp_path, capsys):
    _, out, _ = run(capsys, "review", results_file, "--format", "csv")
    rows = rows_of(out)
    decided = decide([r for r in rows if "misprint" not in r["source"]])
    # The reviewer confirms the printed 166 of the misprinted report: the identities still fail.
    confirmed = [dict(r, resolved_value="166", note="printed so") for r in rows if "misprint" in r["source"]]
    code, out, _ = run(capsys, "apply", results_file, write_csv(tmp_path / "d.csv", decided + confirmed))
    report_id = confirmed[0]["report_id"]
    assert code == 1
    assert out.splitlines() == [
        "applied 9 decision(s) to 3 report(s); 3 result(s) changed",
        f"still open: {report_id} 通化市生态环境局 2022 (reports/misprint-3.txt)",
        "  identity: T3-row 一、本年新收政府信息公开申请数量: 总计 = 自然人 + 五类法人或其他组织: 299=299 ≠ 166+31+22+31+31+19=300",
        "  identity: T3-flow 自然人: 一 + 二 = 三(七) + 四: 166+11=177 ≠ 158+18=176",
    ]


def test_bad_rows_are_rejected_by_line_and_nothing_is_changed(results_file, tmp_path, capsys):
    _, out, _ = run(capsys, "review", results_file, "--format", "csv")
    rows = decide(rows_of(out))
    rows[1]["resolved_value"] = "12件"
    rows[3]["cell"] = "applications.no_such_row.total"
    rows[4]["report_id"] = "ffffffffffffffff"
    rows[5]["resolved_value"] = "-2"
    rows.append(dict(rows[6], resolved_value="999"))
    before = results_file.read_bytes()
    bad = write_csv(tmp_path / "bad.csv", rows)
    code, out, err = run(capsys, "apply", results_file, bad)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: {bad} line 3: resolved_value '12件' is not a number (write 12, 96171.6 or blank)",
        f"error: {bad} line 5: report {rows[3]['report_id']} has no cell 'applications.no_such_row.total'",
        f"error: {bad} line 6: no report 'ffffffffffffffff' in these results",
        f"error: {bad} line 7: applications.partially_granted.public_interest_org is a count; -2 is not a non-negative whole number",
        f"error: {bad} line 11: {rows[6]['cell']} of report {rows[6]['report_id']} is decided differently on line 8",
    ]
    assert results_file.read_bytes() == before


def test_reviewer_numbers_as_spreadsheets_save_them():
    result = unreadable(4)
    rid = review([result])[0].report_id
    text = "\ufeffreport_id,cell,resolved_value,note\n" + "\n".join(
        f"{rid},applications.partially_granted.{column},{value},"
        for column, value in (("natural_person", "１２"), ("commercial_enterprise", '"1,234"'), ("research_institution", "blank"),
                              ("public_interest_org", " 7 "), ("legal_service_org", ""), ("other_org", "3.0"))
    )  # fmt: skip
    values = [d.value for d in read_decisions(text, "d.csv", [result])]
    assert values == [12, 1234, None, 7, 3]
    with pytest.raises(DecisionError) as error:
        read_decisions("report,value\n", "d.csv", [result])
    assert str(error.value).startswith("d.csv: no report_id, cell, resolved_value column; start from the CSV of gxllm review")


def consecutive_years() -> tuple[dict, dict]:
    """Two consistent reports of one agency where 2024's 二、上年结转 is 2023's 四、结转下年度继续办理."""
    earlier, later = sample_report(11), copy.deepcopy(sample_report(12))
    earlier["report"].update(agency="某某市人民政府办公室", year=2023)
    later["report"].update(agency="某某市人民政府办公室", year=2024)
    t3 = later["applications"]
    for column, value in earlier["applications"]["carried_forward"].items():
        t3["new_received"][column] -= value - t3["carried_over"][column]  # keeps 一+二=三(七)+四
        t3["carried_over"][column] = value
    assert min(t3["new_received"].values()) >= 0
    return earlier, later


def test_a_run_folder_is_updated_everywhere_and_cross_year_is_checked_again(tmp_path, capsys):
    earlier, later = consecutive_years()
    misprinted = copy.deepcopy(later)
    misprinted["applications"]["carried_over"]["natural_person"] += 1  # a typo in the 2024 report
    folder = tmp_path / "in"
    folder.mkdir()
    for name, report in (("a2023.txt", earlier), ("a2024.txt", misprinted), ("ok.txt", sample_report(13))):
        (folder / name).write_text(render_pipe_rows(report), "utf-8")
    run_dir = tmp_path / "run"
    assert run(capsys, "batch", folder, "--out", run_dir, "--llm", "never", "-q")[0] == 1
    _, out, _ = run(capsys, "review", run_dir, "--format", "csv")
    rows = rows_of(out)
    assert [(Path(r["source"]).name, r["cell"], r["kinds"]) for r in rows] == [
        ("a2023.txt", "applications.carried_forward.natural_person", "cross_year"),
        ("a2024.txt", "applications.carried_over.natural_person", "cross_year identity"),
    ]
    true_value = later["applications"]["carried_over"]["natural_person"]
    fix = [dict(rows[1], resolved_value=true_value, note="typo in the printed table")]
    code, out, _ = run(capsys, "apply", run_dir, write_csv(tmp_path / "d.csv", fix))
    assert (code, out) == (0, "applied 1 decision(s) to 1 report(s); 2 result(s) changed\nnothing left to review\n")
    results = [json.loads(line) for line in (run_dir / "results.jsonl").read_text("utf-8").splitlines()]
    assert [(Path(r["source"]["name"]).name, r["status"], r["findings"]) for r in results] == [
        ("a2023.txt", "ok", []), ("a2024.txt", "ok", []), ("ok.txt", "ok", [])]  # fmt: skip
    summary = json.loads((run_dir / "summary.json").read_text("utf-8"))
    assert (summary["status"], summary["cross_year_mismatches"], summary["human_decisions"]) == ({"ok": 3}, 0, 1)
    assert summary["reports"] == 3  # the run's own figures stay
    cells = list(csv.DictReader((run_dir / "cells.csv").open(encoding="utf-8")))
    human = [(Path(c["source"]).name, c["row"], c["column"], c["value"], c["flagged"]) for c in cells if c["provenance"] == "human"]
    assert human == [("a2024.txt", "carried_over", "natural_person", str(true_value), "0")]
    with sqlite3.connect(run_dir / "gxllm.sqlite") as db:
        assert db.execute("SELECT status, COUNT(*) FROM reports GROUP BY status").fetchall() == [("ok", 3)]
        assert db.execute("SELECT COUNT(*) FROM findings").fetchone() == (0,)


def test_dry_run_checks_and_tells_but_writes_nothing(results_file, tmp_path, capsys):
    _, out, _ = run(capsys, "review", results_file, "--format", "csv")
    before = results_file.read_bytes()
    code, out, _ = run(capsys, "apply", results_file, write_csv(tmp_path / "d.csv", decide(rows_of(out))), "--dry-run")
    assert (code, out) == (0, "would apply 9 decision(s) to 3 report(s); 3 result(s) changed\nnothing left to review\n")
    assert results_file.read_bytes() == before


def test_a_single_extract_result_keeps_its_shape(tmp_path, capsys):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(misprinted(3), ensure_ascii=False, indent=2) + "\n", "utf-8")
    _, out, _ = run(capsys, "review", path, "--format", "csv")
    code, _, _ = run(capsys, "apply", path, write_csv(tmp_path / "d.csv", decide(rows_of(out))))
    result = json.loads(path.read_text("utf-8"))
    assert code == 0 and isinstance(result, dict) and result["status"] == "ok"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "{p}: no such file or folder"),
        (lambda p: (p.mkdir(), p)[1], "{p}: not a batch run folder (no gxllm.sqlite or results.jsonl in it)"),
        (lambda p: (p.write_text('{"a": 1}'), p)[1], "{p}: result 1 is not a gxllm result (no 'status' and 'report'); was it made by gxllm extract or batch?"),
        (lambda p: (p.write_text('{"a": '), p)[1], "{p} line 1: not JSON (Expecting value)"),
    ],
)  # fmt: skip
def test_what_is_not_results_gets_one_line(tmp_path, capsys, make, message):
    path = make(tmp_path / "x.json")
    code, out, err = run(capsys, "review", path)
    assert (code, out, err) == (2, "", f"error: {message.format(p=path)}\n")


def test_failed_inputs_are_listed_with_their_reason(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "report.txt").write_text(render_pipe_rows(sample_report(3)), "utf-8")
    (folder / "notes.txt").write_text("本年度无政府信息公开工作年度报告表格。\n", "utf-8")
    run(capsys, "batch", folder, "--out", tmp_path / "run", "--llm", "never", "-q")
    code, out, _ = run(capsys, "review", tmp_path / "run", "--format", "md")
    assert code == 0 and out.splitlines()[2:4] == [
        "2 reports: 1 ok, 0 review, 1 failed; 0 conflicting cells.",
        f"- failed: {folder / 'notes.txt'}: no 表二, 表三 or 表四 found; is this a 政府信息公开工作年度报告?",
    ]


def test_rewritten_files_keep_ordinary_permissions(results_file, tmp_path, capsys):
    import os

    _, out, _ = run(capsys, "review", results_file, "--format", "csv", "-o", tmp_path / "review.csv")
    rows = decide(rows_of((tmp_path / "review.csv").read_text("utf-8")))
    run(capsys, "apply", results_file, write_csv(tmp_path / "d.csv", rows))
    umask = os.umask(0)
    os.umask(umask)
    assert {p.name: p.stat().st_mode & 0o777 for p in (results_file, tmp_path / "review.csv")} == {
        "results.jsonl": 0o666 & ~umask, "review.csv": 0o666 & ~umask}  # fmt: skip


def test_cells_only_the_llm_read_are_decided_by_their_suspects(tmp_path, capsys):
    """The rules cannot read (二)部分公开; the LLM reads it with one cell wrong: the table is
    llm_unverified (a note), and the one cell in both failing identities is the conflict."""
    from review_cases import reader_answering, unreadable_text

    truth = sample_report(4)
    wrong = ("applications", "partially_granted", "commercial_enterprise")
    reader = reader_answering(truth, {wrong: truth["applications"]["partially_granted"]["commercial_enterprise"] + 2})
    result = extract_bytes(unreadable_text(4).encode(), "reports/unreadable-4.txt", llm="auto", reader=reader)
    assert [f["kind"] for f in result["findings"]] == ["read_by_llm", "llm_unverified", "identity", "identity"]
    [item] = review([result])
    assert [n.kind for n in item.notes] == ["llm_unverified"]
    assert [(c.path, c.kinds, c.rules_value, c.llm_value) for c in item.conflicts] == [
        (".".join(wrong), ["identity"], "", truth["applications"]["partially_granted"]["commercial_enterprise"] + 2)]  # fmt: skip
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result, ensure_ascii=False), "utf-8")
    _, out, _ = run(capsys, "review", path, "--format", "csv")
    code, out, _ = run(capsys, "apply", path, write_csv(tmp_path / "d.csv", decide(rows_of(out))))
    settled = json.loads(path.read_text("utf-8"))
    assert (code, settled["status"], [f["kind"] for f in settled["findings"]]) == (0, "ok", ["read_by_llm"])


def test_every_finding_kind_is_declared_once_and_listed_in_the_readme():
    from pathlib import Path

    from gxllm.findings import INFORMATIONAL, KINDS

    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    table = readme[readme.index("| kind | makes `review` | meaning |"):]
    table = table[: table.index("\n\n")]
    listed = {}
    for line in table.splitlines()[2:]:
        names, review = line.split(" | ")[:2]
        for name in re.findall(r"`([a-z_]+)`", names):
            listed[name] = review.strip()
    assert set(listed) == set(KINDS)
    for name, review in listed.items():
        if review in ("yes", "no"):  # the failed kinds say "—": their report failed
            assert (review == "yes") == (name not in INFORMATIONAL), name
