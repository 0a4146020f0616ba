"""The gold comparison of bench/bench.py (the bench itself needs gxllm.pipeline)."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"


def _load_bench():
    spec = importlib.util.spec_from_file_location("gxllm_bench", ROOT / "bench" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()

GOLD = {
    "schema_version": 1,
    "report": {"agency": "淮安市洪泽区人民政府", "year": 2024, "template": "2021"},
    "active_disclosure": {
        "administrative_fees": {"amount_wan_yuan": 7545},
        "government_procurement": {"projects": 3, "total_amount": 12.5, "total_amount_unit": "万元"},
    },
    "applications": {"new_received": {"natural_person": 95, "commercial_enterprise": None, "total": 95}},
    "reviews_and_lawsuits": {"administrative_review": {"upheld": 10, "corrected": 1, "total": 0}},
    "source_inconsistencies": [{"identity": "T4-total", "detail": "总计 printed 0"}],
}


def test_identical_result_is_exact():
    result = copy.deepcopy(GOLD)
    result["active_disclosure"]["administrative_fees"]["amount_wan_yuan"] = 7545.0  # numerically equal
    result["status"] = "review"
    result["findings"] = [{"kind": "identity", "identity": "T4-total", "cells": [], "message": ""}]
    cmp = bench.compare(result, GOLD)
    assert (cmp["cells"], cmp["correct"], cmp["wrong"], cmp["exact"]) == (9, 9, [], True)
    assert cmp["meta"] == {"agency": True, "year": True, "template": True}
    assert bench.inconsistencies(result, GOLD) == [{"identity": "T4-total", "named": True}]


def test_wrong_cells_missing_rows_and_metadata():
    result = {
        "report": {"agency": "淮安市洪泽区人民政府", "year": "2024", "template": None},
        "active_disclosure": {"administrative_fees": {"amount_wan_yuan": 7545.01}},
        "applications": {"new_received": {"natural_person": 95, "commercial_enterprise": 0, "total": 95}},
        "reviews_and_lawsuits": {"administrative_review": {"upheld": 10, "corrected": 1, "total": 11}},
        "findings": [{"kind": "blank", "cells": [], "message": ""}],
        "status": "ok",
    }
    cmp = bench.compare(result, GOLD)
    assert cmp["cells"] == 9 and cmp["correct"] == 4 and not cmp["exact"]
    assert {w["cell"] for w in cmp["wrong"]} == {
        "active_disclosure.administrative_fees.amount_wan_yuan",  # 7545.01 != 7545
        "active_disclosure.government_procurement.projects",  # row missing -> None != 3
        "active_disclosure.government_procurement.total_amount",
        "applications.new_received.commercial_enterprise",  # 0 is not null
        "reviews_and_lawsuits.administrative_review.total",  # kept what is printed: 0
    }
    assert cmp["meta"] == {"agency": True, "year": False, "template": False}  # "2024" is not 2024
    assert bench.inconsistencies(result, GOLD) == [{"identity": "T4-total", "named": False}]


def test_same():
    assert bench.same(None, None) and bench.same(7545, 7545.0) and bench.same(96171.6, 96171.6)
    assert not bench.same(0, None) and not bench.same(None, 0) and not bench.same(True, 1)
    assert not bench.same(1, "1") and bench.same("2021", "2021")


def test_find_reports_accepts_folder_and_parent():
    every = bench.find_reports([str(FIXTURES)])
    assert len(every) == len(list(FIXTURES.glob("*/source.*")))  # each source of a report counts
    assert all(src.parent == folder for folder, src in every)
    one = bench.find_reports([str(FIXTURES / "seed-000"), str(FIXTURES)])
    assert len(one) == len(every)  # no duplicates
    pdfs = bench.find_reports([str(FIXTURES)], {"pdf"})
    assert [src.name for _, src in pdfs] == ["source.pdf"] * 3


def test_main_with_a_stand_in_extractor(monkeypatch, capsys):
    """The whole bench over the fixtures, with an extractor that returns the gold (one cell off)."""

    def extract_bytes(data: bytes, name: str, *, encoding=None) -> dict:
        gold = json.loads((FIXTURES / name.split("/")[0] / "gold.json").read_text(encoding="utf-8"))
        if name.startswith("seed-001"):
            gold["applications"]["new_received"]["total"] = 12345
        return {**gold, "status": "ok", "findings": [{"kind": "blank", "cells": [], "message": ""}]}

    fake = types.ModuleType("gxllm.pipeline")
    fake.extract_bytes = extract_bytes
    monkeypatch.setitem(sys.modules, "gxllm.pipeline", fake)
    assert bench.main([str(FIXTURES), "--only", "txt", "--repeat", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    s = out["summary"]
    assert s["reports"] == 8 and s["exact_reports"] == 7 and s["silent_wrong"] == ["seed-001/source.txt"]
    assert s["cells"] - s["cells_correct"] == 1 and s["metadata_accuracy"] == 1.0
    hongze = next(r for r in out["reports"] if r["name"] == "corpus-2023-hongze-district/source.txt")
    assert hongze["inconsistencies"] == [{"identity": "T4-total", "named": False}]
    assert bench.main([str(FIXTURES), "--only", "txt"]) == 0
    text = capsys.readouterr().out
    assert "silent wrong       1: seed-001/source.txt" in text and "reports/s" in text and "NOT named" in text


@pytest.mark.skipif(not (ROOT / "src" / "gxllm" / "pipeline.py").exists(), reason="gxllm.pipeline not written yet")
def test_bench_runs_with_the_real_extractor(capsys):
    assert bench.main([str(FIXTURES)]) == 0
    assert "cell accuracy" in capsys.readouterr().out



def _text_speed(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "bench" / "text_speed.py"), "--rounds", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd)


def test_text_speed_times_a_peer_on_the_same_texts(tmp_path):
    """`--peer` times another parser's function on the texts gxllm reads, and gives the ratio."""
    (tmp_path / "fakepeer.py").write_text("import re\n\ndef parse(text):\n    return re.findall(r'\\d+', text)\n")
    run = _text_speed("-n", "5", "--peer", str(tmp_path), "--peer-function", "fakepeer:parse", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert [line.split()[0] for line in run.stdout.splitlines()] == ["this", "peer", "this/peer"]
    assert "(speed of this tree over the peer's)" in run.stdout


def test_text_speed_says_which_peer_failed(tmp_path):
    run = _text_speed("-n", "2", "--peer", str(tmp_path), "--peer-function", "nosuchpeer:parse", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.startswith(f"the measurement with {tmp_path} first on the path failed:")
    assert "ModuleNotFoundError: No module named 'nosuchpeer'" in run.stderr
