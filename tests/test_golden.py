"""Every real report under tests/fixtures/reports comes out exactly as its hand-made gold,
from each of its sources (the corpus reports as their PDF and as its `pdftotext -layout` text)."""

import json
from pathlib import Path

import pytest

from gxllm.model import Report
from gxllm.pipeline import extract_bytes

SOURCES = sorted(
    source
    for folder in (Path(__file__).parent / "fixtures" / "reports").iterdir()
    if (folder / "gold.json").exists()
    for source in folder.glob("source.*")
)
CANONICAL = ("schema_version", "report", "active_disclosure", "applications", "reviews_and_lawsuits")


@pytest.mark.parametrize("source", SOURCES, ids=[f"{p.parent.name}/{p.name}" for p in SOURCES])
def test_report_matches_gold(source: Path):
    gold = json.loads((source.parent / "gold.json").read_text("utf-8"))
    result = extract_bytes(source.read_bytes(), source.name)

    assert {k: result[k] for k in CANONICAL} == {k: gold[k] for k in CANONICAL}
    Report.model_validate(result)
    inconsistencies = sorted(i["identity"] for i in gold.get("source_inconsistencies", []))
    found = sorted(f["identity"] for f in result["findings"] if f["kind"] == "identity")
    assert found == inconsistencies
    assert result["status"] == ("review" if inconsistencies else "ok")
    for table in gold.get("tables_absent", []):
        assert table in result["tables_absent"]
    for table, variant in gold.get("table_shapes", {}).items():
        assert result["table_shapes"][table] == variant


def test_source_inconsistency_keeps_printed_numbers_and_names_the_arithmetic():
    folder = Path(__file__).parent / "fixtures" / "reports" / "corpus-2023-hongze-district"
    result = extract_bytes((folder / "source.txt").read_bytes(), "source.txt")
    assert result["reviews_and_lawsuits"]["administrative_review"] == {
        "upheld": 10, "corrected": 1, "other": 0, "pending": 0, "total": 0,
    }
    messages = [f["message"] for f in result["findings"] if f["kind"] == "identity"]
    assert messages == [
        "T4-total 行政复议: 总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结: 0=0 ≠ 10+1+0+0=11",
        "T4-total 行政诉讼·复议后起诉: 总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结: 0=0 ≠ 5+0+0+0=5",
    ]


@pytest.mark.parametrize("encoding", ["big5hkscs", "gb18030", "utf-16", "utf-8-sig"])
def test_traditional_report_in_other_encodings(encoding):
    folder = Path(__file__).parent / "fixtures" / "reports" / "seed-000"
    gold = json.loads((folder / "gold.json").read_text("utf-8"))
    text = (folder / "source.txt").read_text("utf-8")
    result = extract_bytes(text.encode(encoding, "replace"), "source.txt")
    assert {k: result[k] for k in CANONICAL} == {k: gold[k] for k in CANONICAL}
    assert result["status"] == "ok"
