"""The typed result: its JSON edge round-trips every result gxllm writes, byte for byte; the status
is one property; the rule reading continued by the LLM step is the whole extraction."""

import json
import pickle
from pathlib import Path

import pytest
from layouts import render_pipe_rows, sample_report
from review_cases import consistent, disagreeing, misprinted, reader_answering, unreadable, unreadable_text

from gxllm.findings import Finding
from gxllm.load import load
from gxllm.model import CellRef, Result
from gxllm.pipeline import complete, extract_bytes, extract_document, extract_result, read_rules, unreadable_result
from gxllm.result_json import from_json, parse_cell, to_json

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = sorted(FIXTURES.glob("**/expected.json"))
SOURCES = sorted(FIXTURES.glob("**/source.*"))


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.parent.name for p in GOLDEN])
def test_golden_excerpts_round_trip(path: Path):
    data = json.loads(path.read_text("utf-8"))
    assert _dumps(to_json(from_json(data))) == _dumps(data)


@pytest.mark.parametrize("path", SOURCES, ids=[f"{p.parent.name}/{p.name}" for p in SOURCES])
def test_every_extracted_result_round_trips(path: Path):
    data = extract_bytes(path.read_bytes(), path.name)
    result = from_json(data)
    assert _dumps(to_json(result)) == _dumps(data)  # key order too: a result read and written is unchanged
    assert from_json(to_json(result)) == result
    assert result.status == data["status"]


@pytest.mark.parametrize("make", [consistent, disagreeing, misprinted, unreadable])
def test_results_with_llm_calls_and_report_ids_round_trip(make):
    data = make(3)
    result = from_json(data)
    assert result.report_id == data["report_id"]
    assert _dumps(result.to_json()) == _dumps(data)


def test_a_decided_cell_keeps_its_key_order():
    data = consistent(2)
    cells = data["provenance"]["applications"]["cells"]
    cells["new_received.natural_person"] = {"line": 3, "previous": 5, "source": "human", "note": "checked"}
    cells["new_received.total"] = {"line": 3, "source": "human", "previous": None}
    assert _dumps(to_json(from_json(data))) == _dumps(data)


def test_cells_are_refs_and_ranges_are_numbers_inside_the_result():
    path = FIXTURES / "reports" / "seed-001" / "source.txt"
    data = extract_bytes(path.read_bytes(), path.name)
    table = from_json(data).tables["applications"]
    first, last = data["provenance"]["applications"]["lines"].split("-")
    assert table.lines == (int(first), int(last))
    ref = CellRef("applications", "new_received", "natural_person")
    assert table.cells[ref].line == data["provenance"]["applications"]["cells"]["new_received.natural_person"]["line"]
    assert table.value(ref) == data["applications"]["new_received"]["natural_person"]
    assert parse_cell("applications.new_received.natural_person") == ref
    assert parse_cell("applications") is None
    assert sorted([CellRef("b", "a", "a"), ref]) == [ref, CellRef("b", "a", "a")]


def test_status_is_one_rule_over_tables_and_findings():
    result = from_json(consistent(1))
    assert result.status == "ok"
    result.findings.append(Finding("blank", [CellRef("applications", "new_received", "natural_person")], "blank"))
    assert result.status == "ok"  # informational
    result.findings.append(Finding("identity", [CellRef("applications", "new_received", "natural_person")], "fails"))
    assert result.status == "review"
    for table in result.tables.values():
        table.found = False
    assert result.status == "failed"
    assert unreadable_result("x.txt", "empty input").status == "failed"


def test_rule_reading_then_completion_is_the_extraction():
    report = sample_report(4)
    doc = load(render_pipe_rows(report).encode(), "r.txt")
    reading = read_rules(doc)
    assert not reading.needs_llm and reading.asks_llm("always") and not reading.asks_llm("auto")
    reader = reader_answering(report, {("applications", "new_received", "natural_person"): 0})
    again = pickle.loads(pickle.dumps(reading))  # a batch worker hands it to the LLM step
    assert complete(again, llm="always", reader=reader).to_json() == extract_document(doc, llm="always", reader=reader)
    assert complete(reading).to_json() == extract_document(doc)
    assert isinstance(complete(reading), Result)


def test_a_table_the_rules_leave_open_needs_the_llm():
    from review_cases import unreadable_text

    reading = read_rules(load(unreadable_text(2).encode(), "u.txt"))
    assert reading.needs_llm and reading.asks_llm("auto")
    assert [key for key, table in reading.tables.items() if table.needs_llm] == ["applications"]
    assert complete(reading, llm="auto").status == "review"  # no reader: noted, not asked


def test_results_without_tables_round_trip():
    for data in (extract_bytes("某某县人民政府2023年政府信息公开工作年度报告\n".encode(), "x.txt"),
                 unreadable_result("y.pdf", "no text").to_json()):  # fmt: skip
        result = from_json(data)
        assert result.status == "failed"
        assert _dumps(to_json(result)) == _dumps(data)
        assert from_json(to_json(result)) == result


def test_a_batch_continues_the_rule_reading_with_the_llm_without_reading_the_file_again(tmp_path, capsys, monkeypatch):
    from fake_openai import FakeOpenAI, tool_call_reply
    from test_batch import ANSWER, garbled_copies, llm_settings

    import gxllm.load
    from gxllm.cli import main

    garbled_copies(tmp_path / "in", 3)
    reads = []
    read_input = gxllm.load.read_input
    monkeypatch.setattr(gxllm.load, "read_input", lambda path: reads.append(path) or read_input(path))
    with FakeOpenAI(default=lambda request: tool_call_reply(ANSWER)) as fake:
        main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "run"), "--workers", "1", "-q", *llm_settings(fake)])
    capsys.readouterr()
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").open(encoding="utf-8")]
    assert len(results) == 3 and all(len(r["llm"]["calls"]) == 1 for r in results)
    assert sorted(reads) == sorted(str(p) for p in (tmp_path / "in").iterdir())  # each file read once


def test_a_findings_cells_are_cell_refs_written_as_paths_only_in_its_json():
    result = read_rules(load(unreadable_text(1).encode(), "u.txt"))
    unread = [f for t in result.tables.values() for f in t.findings if f.kind == "unreadable"]
    assert unread and all(isinstance(c, CellRef) for f in unread for c in f.cells)
    done = complete(result)
    (written,) = [f for f in done.to_json()["findings"] if f["kind"] == "unreadable"]
    assert written["cells"] == [f"{c.table}.{c.row}.{c.column}" for c in unread[0].cells]
    assert from_json(done.to_json()).findings == done.findings


def test_a_finding_about_a_whole_table_names_it_and_round_trips():
    source = FIXTURES / "flattened" / "seed-003-txt" / "source.txt"
    result = extract_result(load(source.read_bytes(), "source.txt"))
    (absent,) = [f for f in result.findings if f.kind == "absent_optional"]
    assert (absent.tables, absent.cells, absent.table) == (["active_disclosure"], [], "active_disclosure")
    data = result.to_json()
    assert [f["cells"] for f in data["findings"] if f["kind"] == "absent_optional"] == [["active_disclosure"]]
    again = from_json(data)
    assert again.findings == result.findings and to_json(again) == data


def test_every_finding_of_the_goldens_says_its_kinds_declared_wording():
    import re
    import string

    from gxllm.findings import KINDS

    def pattern(template: str) -> str:
        return "".join(re.escape(text) + (".*" if field is not None else "") for text, field, _, _ in string.Formatter().parse(template))

    wordings = {k: re.compile("|".join(f"(?:{pattern(t)})" for t in kind.messages.values())) for k, kind in KINDS.items() if kind.messages}
    seen = set()
    for path in GOLDEN:
        for f in json.loads(path.read_text(encoding="utf-8")).get("findings", []):
            if f["kind"] in wordings:
                assert wordings[f["kind"]].fullmatch(f["message"]), (path, f["kind"], f["message"])
                seen.add(f["kind"])
    assert {"unreadable", "identity", "digits_split"} <= seen
