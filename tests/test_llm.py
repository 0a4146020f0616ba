"""The LLM path against a scriptable OpenAI-compatible server on 127.0.0.1 (tests/fake_openai.py):
when it is asked, how its answer is reconciled with the rules, retries, failures, cache, cost.

Replays of a real model are in test_llm_cassettes.py.
"""

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, content_reply, error_reply, tool_call_reply
from layouts import render_pipe_rows, sample_report

from gxllm import template as T
from gxllm.llm.client import ResponseCache, TableReader
from gxllm.llm.reconcile import reconcile
from gxllm.llm.request import messages, response_model
from gxllm.pipeline import extract_bytes
from gxllm.settings import load_settings

GARBLED = Path(__file__).parent / "fixtures" / "llm" / "units-in-cells.txt"
GOLD = json.loads((Path(__file__).parent / "fixtures" / "reports" / "corpus-2024-hongze-district" / "gold.json").read_text("utf-8"))
T3 = T.applications_shape("2021", False)
T3_GOLD = T.shape_for("applications", None, set(GOLD["applications"]))  # its (六) is one row


def rows_of(values: dict, shape: T.Shape) -> dict:
    """A table's values as the compact answer the model gives: one array per row."""
    return {row.key: [values[row.key][c.key] for c in shape.columns_of(row)] for row in shape.rows}


def reader_for(fake: FakeOpenAI, tmp_path: Path, **settings) -> TableReader:
    flags = {"endpoint": fake.base_url, "model": "fake-model", **settings}
    return TableReader(load_settings(flags), cache=ResponseCache(tmp_path / "cache"))


def test_request_is_small_and_keyed_by_the_template():
    schema = response_model(T3).model_json_schema()
    assert list(schema["properties"]) == [r.key for r in T3.rows]
    assert schema["properties"]["new_received"]["minItems"] == schema["properties"]["new_received"]["maxItems"] == 7
    user = messages(T3, "TABLE")[1]["content"]
    assert user.startswith("表三 收到和处理政府信息公开申请情况\nColumns of every row, in order: [自然人, 商业企业,")
    assert user.endswith("Table text:\nTABLE")


def test_garbled_table_is_read_by_the_llm_and_verified(tmp_path):
    with FakeOpenAI() as fake:
        fake.queue(tool_call_reply(rows_of(GOLD["applications"], T3_GOLD), prompt_tokens=1800, completion_tokens=420))
        reader = reader_for(fake, tmp_path, price_in=1.0, price_out=2.0)
        result = extract_bytes(GARBLED.read_bytes(), "garbled.txt", llm="auto", reader=reader.read)
        assert len(fake.requests) == 1  # only 表三 needed it
        assert "95件" in fake.requests[0]["json"]["messages"][1]["content"]

        assert result["applications"] == GOLD["applications"]
        assert result["status"] == "ok"
        assert result["provenance"]["applications"]["method"] == "llm"
        assert result["provenance"]["applications"]["cells"]["new_received.total"]["source"] == "llm"
        assert {f["kind"] for f in result["findings"]} == {"read_by_llm"}
        call = result["llm"]["calls"][0]
        assert (call["table"], call["model"], call["mode"], call["input_tokens"], call["output_tokens"]) == (
            "applications", "fake-model", "tools", 1800, 420,
        )
        assert result["llm"]["cost"] == pytest.approx((1800 * 1.0 + 420 * 2.0) / 1e6)

        again = extract_bytes(GARBLED.read_bytes(), "garbled.txt", llm="auto", reader=reader.read)
        assert len(fake.requests) == 1  # a rerun is answered from the cache
        assert again["applications"] == GOLD["applications"]
        assert again["llm"]["calls"][0]["cached"] is True and again["llm"]["cost"] == 0


def test_llm_only_values_that_break_an_identity_are_never_ok(tmp_path):
    wrong = rows_of(GOLD["applications"], T3_GOLD)
    wrong["new_received"][0] = 96  # 96 ≠ 95 total
    with FakeOpenAI() as fake:
        fake.queue(tool_call_reply(wrong))
        result = extract_bytes(GARBLED.read_bytes(), "g.txt", llm="auto", reader=reader_for(fake, tmp_path).read)
    assert result["status"] == "review"
    kinds = [f["kind"] for f in result["findings"]]
    assert "llm_unverified" in kinds and "identity" in kinds


def test_always_mode_flags_every_cell_the_model_reads_differently(tmp_path):
    report = sample_report(3)
    answer = rows_of(report["applications"], T3)
    answer["granted"][1] += 1
    def reply(request: dict):
        return tool_call_reply(answer if _table_of(request) == "applications" else _echo(report, request))

    with FakeOpenAI(default=reply) as fake:
        result = extract_bytes(render_pipe_rows(report).encode(), "r.txt", llm="always", reader=reader_for(fake, tmp_path).read)
        assert len(fake.requests) == 3
    assert result["status"] == "review"
    assert result["applications"] == report["applications"]  # the rule value is kept
    (disagreement,) = [f for f in result["findings"] if f["kind"] == "disagreement"]
    ours = report["applications"]["granted"]["commercial_enterprise"]
    assert disagreement["cells"] == ["applications.granted.commercial_enterprise"]
    assert (disagreement["rules_value"], disagreement["llm_value"]) == (ours, ours + 1)
    assert disagreement["rules_satisfies"] == ["T3-row 三、本年度办理结果 (一)予以公开", "T3-results 商业企业"]
    assert disagreement["llm_satisfies"] == []
    cells = result["provenance"]["applications"]["cells"]
    assert cells["granted.commercial_enterprise"]["source"] == "disagreement"
    assert cells["granted.natural_person"]["source"] == "both"
    assert result["provenance"]["applications"]["method"] == "rules+llm"


def _table_of(request: dict) -> str:
    return request["tools"][0]["function"]["name"]


def _echo(report: dict, request: dict) -> dict:
    """The right answer for whichever table the request is about."""
    table = _table_of(request)
    shape = T.active_disclosure_shape("2021") if table == "active_disclosure" else T.REVIEWS_SHAPE
    return rows_of(report[table], shape)


def test_invalid_reply_is_shown_back_then_accepted(tmp_path):
    good = rows_of(GOLD["applications"], T3_GOLD)
    short = dict(good, new_received=good["new_received"][:6])  # 6 numbers for 7 columns
    with FakeOpenAI() as fake:
        fake.queue(tool_call_reply(short), tool_call_reply(good))
        answer = reader_for(fake, tmp_path).read(T3_GOLD, "table text")
        assert answer.values == {k: dict(v) for k, v in GOLD["applications"].items()}
        assert len(fake.requests) == 2
        retry_messages = json.dumps(fake.requests[1]["json"]["messages"], ensure_ascii=False)
        assert "new_received" in retry_messages and "at least 7 items" in retry_messages


def test_rate_limit_then_success_and_server_error_then_success(tmp_path):
    good = rows_of(GOLD["applications"], T3_GOLD)
    with FakeOpenAI() as fake:
        fake.queue(error_reply(429, retry_after="0.01"), error_reply(503), tool_call_reply(good))
        answer = reader_for(fake, tmp_path).read(T3_GOLD, "table text")
        assert answer.error is None and answer.attempts == 3 and len(fake.requests) == 3


def test_timeouts_end_in_review_with_the_rule_values_kept(tmp_path):
    with FakeOpenAI() as fake:
        fake.default = content_reply("{}", prompt_tokens=1)
        fake.default.delay = 5
        reader = reader_for(fake, tmp_path, timeout=0.2, retry_seconds=0.5)
        result = extract_bytes(GARBLED.read_bytes(), "g.txt", llm="auto", reader=reader.read)
    assert result["status"] == "review"
    (failed,) = [f for f in result["findings"] if f["kind"] == "llm_failed"]
    assert failed["message"].startswith("表三: the LLM could not read it (gave up after ")
    assert "APITimeoutError" in failed["message"] and failed["message"].endswith("; the rule values are kept")
    assert result["applications"]["new_received"]["total"] is None  # the rules could not read it; nothing invented


def test_model_that_never_answers_validly_reports_attempts_and_last_reply(tmp_path):
    with FakeOpenAI(default=tool_call_reply({"new_received": [1]})) as fake:
        answer = reader_for(fake, tmp_path, validation_retries=1).read(T3, "table text")
        assert len(fake.requests) == 2
    assert answer.values is None and answer.attempts == 2
    assert answer.error.startswith("no valid reply after 2 attempt(s)")
    assert answer.last_reply == '{"new_received": [1]}'
    assert answer.input_tokens == 200  # both attempts are paid for


def test_reconcile_is_pure_and_names_the_identities_each_value_keeps():
    values = sample_report(5)["applications"]
    llm = {k: dict(v) for k, v in values.items()}
    llm["carried_forward"]["total"] += 2
    merged = reconcile(T3, values, set(), llm)
    (finding,) = merged.findings
    assert finding.message == (
        f"表三 四、结转下年度继续办理 / 总计: rules read {values['carried_forward']['total']}, the LLM "
        f"{values['carried_forward']['total'] + 2}; the rule value is kept. Identities holding with the rule value: "
        "T3-row 四、结转下年度继续办理, T3-flow 总计; with the LLM value: none"
    )
    assert merged.values == values
