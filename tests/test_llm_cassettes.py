"""The LLM path replayed from a real model (vcrpy cassettes in cassettes/; no network).

The cassettes were recorded from the local model (see cassettes/recorded.json and
cassettes/README.md). To record them again against any OpenAI-compatible endpoint:

    GXLLM_RECORD=1 GXLLM_RECORD_ENDPOINT=http://127.0.0.1:8765/v1 GXLLM_RECORD_MODEL=qwen2.5-coder-1.5b \\
        GXLLM_RECORD_API_KEY=... python -m pytest tests/test_llm_cassettes.py

Requests are matched on method, URL and body, so a changed prompt, schema or model fails the
replay loudly instead of answering from a stale recording.
"""

import datetime
import json
import os
from pathlib import Path

import pytest
import vcr

from gxllm.llm.client import TableReader
from gxllm.pipeline import extract_bytes
from gxllm.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes"
META = CASSETTES / "recorded.json"
FIXTURES = Path(__file__).parent / "fixtures"
RECORDING = os.environ.get("GXLLM_RECORD") == "1"
SECRET_HEADERS = ["authorization", "api-key", "x-api-key", "openai-organization", "openai-project", "cookie"]


def _scrub_response(response: dict) -> dict:
    for name in list(response["headers"]):
        if name.lower() in ("set-cookie", "openai-organization", "x-request-id"):
            del response["headers"][name]
    return response


def _meta() -> dict:
    if RECORDING:
        meta = {
            "endpoint": os.environ.get("GXLLM_RECORD_ENDPOINT", "http://127.0.0.1:8765/v1"),
            "model": os.environ.get("GXLLM_RECORD_MODEL", "qwen2.5-coder-1.5b"),
            "llm_mode": os.environ.get("GXLLM_RECORD_MODE", "tools"),
            "recorded": datetime.date.today().isoformat(),
            "server": os.environ.get("GXLLM_RECORD_SERVER", "llama-cpp-python[server] 0.3.36, n_ctx 4096, 2 threads"),
        }
        META.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
        return meta
    return json.loads(META.read_text("utf-8"))


@pytest.fixture
def reader():
    meta = _meta()
    api_key = os.environ.get("GXLLM_RECORD_API_KEY") if RECORDING else None
    settings = load_settings({
        "endpoint": meta["endpoint"], "model": meta["model"], "llm_mode": meta["llm_mode"], "timeout": 900,
        "api_key": api_key,
    })
    return TableReader(settings).read  # no response cache: every request goes through the cassette


def cassette(name: str):
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORDING else "none",
        match_on=["method", "scheme", "host", "port", "path", "body"],
        filter_headers=SECRET_HEADERS,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    return recorder.use_cassette(f"{name}.yaml")


def test_cassettes_hold_no_secrets():
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text("utf-8").lower()
        assert "bearer" not in text and "sk-" not in text, path.name


def test_report_the_rules_cannot_read_is_read_by_a_real_model(reader):
    """表三 printed with units in every cell (95件): the rules read no row, the model reads all."""
    gold = json.loads((FIXTURES / "reports" / "corpus-2024-hongze-district" / "gold.json").read_text("utf-8"))
    source = (FIXTURES / "llm" / "units-in-cells.txt").read_bytes()
    assert extract_bytes(source, "units-in-cells.txt")["status"] == "review"  # rules only
    with cassette("units-in-cells"):
        result = extract_bytes(source, "units-in-cells.txt", llm="auto", reader=reader)
    assert result["applications"] == gold["applications"]
    assert result["status"] == "ok"
    assert result["provenance"]["applications"]["method"] == "llm"
    (call,) = result["llm"]["calls"]
    assert call["table"] == "applications" and "error" not in call
    assert call["input_tokens"] < 3000 and call["output_tokens"] < 1000


def test_audit_mode_compares_every_cell_of_a_clean_report(reader):
    """--llm always on a report the rules read exactly: every cell the model reads differently is
    a disagreement; the printed (rule) values stay."""
    folder = FIXTURES / "reports" / "corpus-2024-huaian-city"
    gold = json.loads((folder / "gold.json").read_text("utf-8"))
    with cassette("always-huaian"):
        result = extract_bytes((folder / "source.txt").read_bytes(), "source.txt", llm="always", reader=reader)
    for table in ("active_disclosure", "applications", "reviews_and_lawsuits"):
        assert result[table] == gold[table]
    assert [c["table"] for c in result["llm"]["calls"]] == ["active_disclosure", "applications", "reviews_and_lawsuits"]
    disagreements = [f for f in result["findings"] if f["kind"] == "disagreement"]
    sources = [c.get("source") for t in result["provenance"].values() for c in t["cells"].values()]
    assert sources.count("disagreement") == len(disagreements)
    assert result["status"] == ("review" if disagreements else "ok")
    assert RECORDED_DISAGREEMENTS == [(f["cells"][0], f["rules_value"], f["llm_value"]) for f in disagreements]
# What Qwen2.5-Coder-1.5B read differently from the printed table in the recording (184 of 200
# cells agree): the wrapped （六）1 row, and 表四's single row of 15 numbers shifted by columns.
RECORDED_DISAGREEMENTS = [
    ("applications.other_no_correction.natural_person", 67, 6),
    ("applications.other_no_correction.commercial_enterprise", 3, 0),
    ("applications.other_no_correction.legal_service_org", 1, 0),
    ("applications.other_no_correction.total", 71, 6),
    ("reviews_and_lawsuits.administrative_review.other", 178, None),
    ("reviews_and_lawsuits.administrative_review.pending", 37, None),
    ("reviews_and_lawsuits.lawsuit_direct.upheld", 13, None),
    ("reviews_and_lawsuits.lawsuit_direct.corrected", 4, None),
    ("reviews_and_lawsuits.lawsuit_direct.other", 8, 178),
    ("reviews_and_lawsuits.lawsuit_direct.pending", 1, 37),
    ("reviews_and_lawsuits.lawsuit_direct.total", 26, 13),
    ("reviews_and_lawsuits.lawsuit_after_review.upheld", 12, None),
    ("reviews_and_lawsuits.lawsuit_after_review.corrected", 1, None),
    ("reviews_and_lawsuits.lawsuit_after_review.other", 1, None),
    ("reviews_and_lawsuits.lawsuit_after_review.pending", 6, None),
    ("reviews_and_lawsuits.lawsuit_after_review.total", 20, 4),
]


def test_a_reviewer_settles_the_real_models_disagreements_with_review_and_apply(reader, tmp_path, capsys):
    """The audit above, through `gxllm review --format csv` and `gxllm apply`: one row per cell the
    model read differently; keeping the printed values makes the report ok."""
    import csv

    from gxllm.cli import main

    folder = FIXTURES / "reports" / "corpus-2024-huaian-city"
    with cassette("always-huaian"):
        result = extract_bytes((folder / "source.txt").read_bytes(), "source.txt", llm="always", reader=reader)
    path = tmp_path / "huaian.json"
    path.write_text(json.dumps(result, ensure_ascii=False), "utf-8")
    assert main(["review", str(path), "-o", str(tmp_path / "review.csv"), "-q"]) == 0
    rows = list(csv.DictReader((tmp_path / "review.csv").open(encoding="utf-8")))
    blank = lambda v: None if v == "blank" else int(v)  # noqa: E731
    assert [(r["cell"], blank(r["rules_value"]), blank(r["llm_value"]), r["kinds"]) for r in rows] == [
        (cell, rules, llm, "disagreement") for cell, rules, llm in RECORDED_DISAGREEMENTS
    ]
    for row in rows:
        row.update(resolved_value=row["rules_value"], note="as printed")
    with (tmp_path / "decisions.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["apply", str(path), str(tmp_path / "decisions.csv")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "applied 16 decision(s) to 1 report(s); 1 result(s) changed", "nothing left to review"]  # fmt: skip
    settled = json.loads(path.read_text("utf-8"))
    gold = json.loads((folder / "gold.json").read_text("utf-8"))
    assert (settled["status"], settled["findings"]) == ("ok", [])
    assert all(settled[t] == gold[t] for t in ("active_disclosure", "applications", "reviews_and_lawsuits"))
