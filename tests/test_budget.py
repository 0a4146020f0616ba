"""The hard LLM budget (llm/budget.py): reservations at the worst case, settled at the real cost,
never crossing a cap, from many threads, against a fake server that bills every call."""

import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply, content_reply, error_reply, tool_call_reply

from gxllm import template as T
from gxllm.cli import main
from gxllm.errors import BudgetError
from gxllm.llm.budget import Budget, BudgetedReader
from gxllm.llm.client import ENVELOPE_BYTES, RequestMeter, RequestStopped, ResponseCache, TableReader
from gxllm.llm.request import LLMAnswer
from gxllm.pipeline import extract_bytes
from gxllm.settings import load_settings

T3 = T.applications_shape("2021", False)
GOOD = {row.key: [0] * len(T3.columns_of(row)) for row in T3.rows}
INVALID = {"new_received": [1]}  # 24 rows missing: a validation retry
PRICE_IN, PRICE_OUT = 1.0, 2.0  # per 1M tokens
GARBLED = Path(__file__).parent / "fixtures" / "llm" / "units-in-cells.txt"


def reader_for(fake: FakeOpenAI, tmp_path: Path, **settings) -> TableReader:
    flags = {"endpoint": fake.base_url, "model": "fake-model", "price_in": PRICE_IN, "price_out": PRICE_OUT, **settings}
    return TableReader(load_settings(flags), cache=ResponseCache(tmp_path / "cache"))


def billed(fake: FakeOpenAI) -> tuple[float, int]:
    usage = fake.usage_total()
    cost = (usage["prompt_tokens"] * PRICE_IN + usage["completion_tokens"] * PRICE_OUT) / 1e6
    return cost, usage["total_tokens"]


def table_text(i: int, rows: int = 30) -> str:
    return f"doc-{i:03d}\n" + "\n".join(f"三、本年度办理结果 第{r}行 | " + " | ".join(str(r * 7 + c) for c in range(8)) for r in range(rows))


def body_bytes(request: dict) -> int:
    """The request body as the SDK sends it (compact UTF-8 JSON): its Content-Length."""
    return len(json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


# --- Budget alone ----------------------------------------------------------------------------


def test_a_cost_cap_needs_a_price_and_no_cap_is_negative(tmp_path, capsys):
    unpriced = load_settings({"endpoint": "http://127.0.0.1:9/v1", "model": "made-up-model"})
    needs_price = ("--max-cost needs the price of made-up-model, which is not in the price table; "
                   "give --price-in and --price-out (per 1M tokens)")  # fmt: skip
    with pytest.raises(BudgetError) as error:
        Budget.for_settings(unpriced, 1.0)
    assert str(error.value) == needs_price
    assert Budget.for_settings(unpriced, None, 1000).max_tokens == 1000  # a token cap needs no price
    assert Budget.for_settings(load_settings({"endpoint": "local"}), 1.0).max_cost == 1.0  # a local model is free
    with pytest.raises(BudgetError, match="^a budget cap cannot be negative$"):
        Budget(max_tokens=-1)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "garbled.txt").write_bytes(GARBLED.read_bytes())
    batch = ["batch", str(tmp_path / "in"), "--out", str(tmp_path / "run"), "--llm-endpoint", "http://127.0.0.1:9/v1",
             "--model", "made-up-model", "-q"]  # fmt: skip
    for flags, message in ((["--max-cost", "1"], needs_price), (["--max-tokens", "-1"], "a budget cap cannot be negative")):
        code = main(batch + flags)
        assert (code, capsys.readouterr()) == (2, ("", f"error: {message}\n"))


def test_reserve_and_settle_arithmetic():
    budget = Budget(1.0, 1000)
    first = budget.reserve(0.25, 300)
    second = budget.reserve(0.5, 200)
    assert first and second
    assert (budget.reserved_cost, budget.reserved_tokens, budget.spent_cost, budget.spent_tokens) == (0.75, 500, 0, 0)
    budget.settle(first, 0.125, 100)
    assert (budget.reserved_cost, budget.reserved_tokens, budget.spent_cost, budget.spent_tokens) == (0.5, 200, 0.125, 100)
    budget.settle(second, 0.0, 0)  # a call that cost nothing (e.g. a refused connection)
    assert (budget.reserved_cost, budget.reserved_tokens, budget.spent_cost, budget.spent_tokens) == (0, 0, 0.125, 100)
    with pytest.raises(ValueError, match="not open"):
        budget.settle(first, 0.1, 1)
    assert budget.refused == 0


def test_cost_cap_counts_spent_and_reserved_and_refusals():
    budget = Budget(max_cost=1.0)
    held = budget.reserve(0.75, 10**9)  # no token cap
    assert held is not None
    assert budget.reserve(0.5, 0) is None  # 0.75 reserved + 0.5 > 1
    assert budget.reserve(0.25, 0) is not None  # exactly at the cap is within it
    assert budget.refused == 1
    budget.settle(held, 0.5, 0)  # 0.5 spent, 0.25 reserved
    assert budget.reserve(0.25, 0) is not None
    assert budget.reserve(0.25, 0) is None
    assert budget.refused == 2 and (budget.spent_cost, budget.reserved_cost) == (0.5, 0.5)


def test_cap_edges_are_exact():
    budget = Budget(max_cost=1.0)
    assert budget.reserve(0.5, 0) and budget.reserve(0.5, 0)
    assert budget.reserve(1e-9, 0) is None and budget.refused == 1


def test_token_cap():
    budget = Budget(max_tokens=1000)
    a = budget.reserve(123.0, 600)  # no cost cap
    assert a is not None
    assert budget.reserve(0.0, 401) is None
    assert budget.reserve(0.0, 400) is not None
    budget.settle(a, 1.0, 100)
    assert budget.spent_tokens == 100 and budget.reserved_tokens == 400
    assert budget.reserve(0.0, 500) is not None
    assert budget.reserve(0.0, 1) is None
    assert budget.refused == 2


def test_earlier_spending_counts():
    budget = Budget(1.0, 100, spent_cost=0.9, spent_tokens=10)
    assert budget.reserve(0.2, 1) is None
    assert budget.reserve(0.1, 90) is not None
    assert Budget(None, None).reserve(1e9, 10**12) is not None  # no caps


def test_settling_more_than_reserved_is_recorded_and_logged():
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("gxllm.llm.budget")
    logger.addHandler(handler)
    try:
        budget = Budget(1.0)
        r = budget.reserve(0.1, 10)
        budget.settle(r, 0.3, 30)
    finally:
        logger.removeHandler(handler)
    assert budget.spent_cost == 0.3 and budget.spent_tokens == 30
    assert len(seen) == 1 and "more than its worst case" in seen[0].getMessage()


def test_wait_holds_a_call_until_the_calls_in_flight_settle():
    budget = Budget(max_cost=1.0)
    held = budget.reserve(0.75, 0)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(budget.reserve(0.5, 0, wait=True)))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive() and not got  # waiting: 0.75 is only reserved
    budget.settle(held, 0.25, 0)
    waiter.join(5)
    assert got and got[0] is not None and budget.refused == 0
    # Refused at once when what is spent leaves no room, reservations in flight or not.
    budget.settle(got[0], 0.5, 0)
    other = budget.reserve(0.125, 0)
    assert budget.reserve(0.5, 0, wait=True) is None and budget.refused == 1
    assert other is not None


def test_many_threads_never_over_reserve():
    budget = Budget(max_cost=1.0, max_tokens=10_000)
    start = threading.Barrier(64)
    granted: list = []

    def grab() -> None:
        start.wait()
        r = budget.reserve(0.125, 1000)  # 8 fit by cost, 10 by tokens
        if r is not None:
            granted.append(r)

    threads = [threading.Thread(target=grab) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 8 and budget.refused == 56 and budget.reserved_cost == 1.0

    # Reserving and settling from many threads at once: a watcher never sees more than the cap
    # held, and in the end exactly what was settled is spent.
    budget = Budget(max_cost=5.0, max_tokens=50_000)
    settled: list[tuple[float, int]] = []
    lock, stop, over = threading.Lock(), threading.Event(), []

    def watch() -> None:
        while not stop.is_set():
            with budget._changed:  # one consistent view
                cost = budget._spent_cost + sum(r.cost for r in budget._open.values())
                tokens = budget._spent_tokens + sum(r.tokens for r in budget._open.values())
            if cost > 5.0 + 1e-9 or tokens > 50_000:
                over.append((cost, tokens))

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(200):
            cost, tokens = rng.uniform(0.0, 0.05), rng.randrange(0, 500)
            r = budget.reserve(cost, tokens, wait=rng.random() < 0.5)
            if r is not None:
                real = (cost * rng.random(), rng.randrange(0, tokens + 1))
                budget.settle(r, *real)
                with lock:
                    settled.append(real)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(32)))
    stop.set()
    watcher.join()
    assert not over
    assert budget.reserved_cost == 0 and budget.reserved_tokens == 0
    assert budget.spent_cost == pytest.approx(sum(c for c, _ in settled), abs=1e-9)
    assert budget.spent_tokens == sum(t for _, t in settled) <= 50_000
    assert budget.spent_cost <= 5.0 + 1e-9 and budget.refused > 0


# --- worst_case ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["tools", "json_schema", "json", "md_json"])
def test_worst_case_bounds_what_is_sent_with_every_retry(tmp_path, mode):
    text = table_text(0, rows=200)  # a long table: ~12 KB of text
    bad = tool_call_reply({}) if mode == "tools" else content_reply("{}")  # every row missing
    with FakeOpenAI(default=bad) as fake:
        reader = reader_for(fake, tmp_path, llm_mode=mode, validation_retries=2, max_output_tokens=2000)
        worst_input, worst_output = reader.worst_case(T3, text)
        answer = reader.read(T3, text)
        sent = [int(r["headers"]["content-length"]) for r in fake.requests]
    assert answer.values is None and len(sent) == 3  # the first attempt and two retries
    assert [body_bytes(r["json"]) for r in fake.requests] == sent  # bytes measured as the SDK sends them
    assert sum(sent) + ENVELOPE_BYTES * len(sent) <= worst_input < 2 * sum(sent)  # bounding, not wildly
    assert worst_output == 3 * 2000


def test_worst_case_is_zero_for_a_cached_answer(tmp_path):
    with FakeOpenAI(default=tool_call_reply(GOOD)) as fake:
        reader = reader_for(fake, tmp_path)
        text = table_text(1)
        assert reader.worst_case(T3, text) > (0, 0) and not reader.cached(T3, text)
        assert reader.read(T3, text).values is not None
        assert reader.cached(T3, text) and reader.worst_case(T3, text) == (0, 0)


def test_a_provider_billing_the_bound_itself_stays_within_the_reservation(tmp_path):
    """Usage set to the most the meter lets a request be billed: body bytes + envelope input,
    max_tokens output, on every attempt (all invalid): settled = at most the reservation."""
    max_output = 500

    def bill_the_bound(request: dict) -> Reply:
        return tool_call_reply(INVALID, prompt_tokens=body_bytes(request) + ENVELOPE_BYTES, completion_tokens=max_output)

    with FakeOpenAI(default=bill_the_bound) as fake:
        reader = reader_for(fake, tmp_path, max_output_tokens=max_output, validation_retries=2)
        text = table_text(2, rows=120)
        worst_input, worst_output = reader.worst_case(T3, text)
        worst_cost = reader.settings.cost(worst_input, worst_output)
        budget = Budget(max_cost=worst_cost, max_tokens=worst_input + worst_output)  # room for exactly one
        answer = BudgetedReader(reader, budget)(T3, text)
        cost, tokens = billed(fake)
        assert len(fake.requests) == 3 and answer.values is None and not answer.budget
    assert answer.input_tokens == fake.usage_total()["prompt_tokens"]
    assert cost <= worst_cost and tokens <= worst_input + worst_output
    assert budget.spent_cost == pytest.approx(cost, abs=1e-12) and budget.spent_tokens == tokens
    assert BudgetedReader(reader, budget)(T3, table_text(3)).budget  # nothing left for another


def test_a_retry_that_would_pass_the_worst_case_is_not_sent(tmp_path):
    """A reply whose validation errors are far larger than allowed for (every cell a long
    string): the meter stops the read before sending the retry, and nothing is overspent."""
    huge = {row.key: ["x" * 300] * len(T3.columns_of(row)) for row in T3.rows}
    with FakeOpenAI(default=tool_call_reply(huge, prompt_tokens=1500, completion_tokens=400)) as fake:
        reader = reader_for(fake, tmp_path)
        budget = Budget(max_cost=1.0)
        answer = BudgetedReader(reader, budget)(T3, table_text(4))
        assert len(fake.requests) == 1
    assert answer.values is None and answer.error.startswith("stopped before request 2: it could take this table past")
    assert budget.spent_tokens == 1900 and budget.reserved_cost == 0


def test_a_timed_out_request_is_counted_at_its_bound(tmp_path):
    """The provider may bill a request whose reply never arrived: spent counts its bound."""
    slow = tool_call_reply(GOOD, prompt_tokens=1500, completion_tokens=400)
    slow.delay = 0.3
    with FakeOpenAI(default=tool_call_reply(GOOD, prompt_tokens=1500, completion_tokens=400)) as fake:
        fake.queue(slow)
        reader = reader_for(fake, tmp_path, timeout=0.1)
        budget = Budget(max_cost=1.0)
        answer = BudgetedReader(reader, budget)(T3, table_text(5))
        for _ in range(100):  # the slow reply is written (and billed) after the client gave up
            if fake.usage_total()["calls"] == 2:
                break
            time.sleep(0.02)
        cost, tokens = billed(fake)
    assert answer.values is not None and answer.attempts == 2 and fake.usage_total()["calls"] == 2
    assert answer.input_tokens == 1500  # the reply the client got
    assert cost < budget.spent_cost <= 1.0 and tokens < budget.spent_tokens


# --- BudgetedReader under load -----------------------------------------------------------------

USAGE = {"prompt_tokens": 4000, "completion_tokens": 400}  # every reply, valid or not, is billed this
SCENARIO = {"validation_retries": 2, "max_output_tokens": 400}


def _scenario(tmp_path, *, max_cost=None, max_tokens=None, wait=True, n=40):
    """n reads from 8 threads against a server that bills every reply, with rate limits (not
    billed) and invalid replies (billed, then a validation retry) queued among the good ones."""
    with FakeOpenAI(default=tool_call_reply(GOOD, **USAGE)) as fake:
        for _ in range(6):
            fake.queue(error_reply(429, retry_after="0.01"), tool_call_reply(INVALID, **USAGE), tool_call_reply(GOOD, **USAGE))
        reader = reader_for(fake, tmp_path, **SCENARIO)
        budget = Budget(max_cost=max_cost, max_tokens=max_tokens)
        calls: list[LLMAnswer] = []
        budgeted = BudgetedReader(reader, budget, on_call=calls.append, wait=wait)
        texts = [table_text(i) for i in range(n)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda text: budgeted(T3, text), texts))
        cost, tokens = billed(fake)
        sent = [r["json"]["messages"][1]["content"] for r in fake.requests]
    refused = [text for text, a in zip(texts, answers, strict=True) if a.budget]
    assert not any(text in body for text in refused for body in sent)  # a refused call made no request
    assert refused and budget.refused == len(refused)
    assert any(a.values is not None for a in answers)
    assert all(a.values is None and a.error.startswith("not asked: the budget (") for a in answers if a.budget)
    assert len(calls) == n - len(refused) and all(not a.budget for a in calls)
    assert budget.reserved_cost == 0 and budget.reserved_tokens == 0
    assert budget.spent_cost == pytest.approx(cost, abs=1e-12)  # failed attempts included
    assert budget.spent_tokens == tokens
    assert sum(a.cost for a in answers) == pytest.approx(cost, abs=1e-12)
    return budget, cost, tokens


def _call_worst(tmp_path) -> tuple[float, int, float]:
    """One read's reservation (cost, tokens), and what one reply costs."""
    with FakeOpenAI() as fake:
        reader = reader_for(fake, tmp_path / "probe", **SCENARIO)
        worst_input, worst_output = reader.worst_case(T3, table_text(0))
    reply = (USAGE["prompt_tokens"] * PRICE_IN + USAGE["completion_tokens"] * PRICE_OUT) / 1e6
    return reader.settings.cost(worst_input, worst_output), worst_input + worst_output, reply


# The cap leaves room for one worst case plus a few real calls, or for three worst cases at once
# (three calls in flight); 40 calls never fit.
@pytest.mark.parametrize("room", ["worst+0.5", "worst+10", "3*worst"])
@pytest.mark.parametrize("wait", [True, False])
def test_max_cost_is_never_exceeded(tmp_path, room, wait):
    worst_cost, _, reply_cost = _call_worst(tmp_path)
    max_cost = 3 * worst_cost if room == "3*worst" else worst_cost + float(room.split("+")[1]) * reply_cost
    budget, cost, _ = _scenario(tmp_path, max_cost=max_cost, wait=wait)
    assert cost <= max_cost and budget.spent_cost <= max_cost


@pytest.mark.parametrize("room", ["worst+0.5", "3*worst"])
def test_max_tokens_is_never_exceeded(tmp_path, room):
    _, worst_tokens, _ = _call_worst(tmp_path)
    reply_tokens = USAGE["prompt_tokens"] + USAGE["completion_tokens"]
    max_tokens = 3 * worst_tokens if room == "3*worst" else worst_tokens + reply_tokens // 2
    budget, _, tokens = _scenario(tmp_path, max_tokens=max_tokens)
    assert tokens <= max_tokens and budget.spent_tokens <= max_tokens


def test_both_caps_the_tighter_wins(tmp_path):
    worst_cost, worst_tokens, _ = _call_worst(tmp_path)
    _, cost, tokens = _scenario(tmp_path, max_cost=10 * worst_cost, max_tokens=2 * worst_tokens)
    assert tokens <= 2 * worst_tokens and cost <= 10 * worst_cost


def test_cached_answers_need_no_budget(tmp_path):
    with FakeOpenAI(default=tool_call_reply(GOOD)) as fake:
        reader = reader_for(fake, tmp_path)
        text = table_text(6)
        assert reader.read(T3, text).values is not None
        budget = Budget(max_cost=0.0, max_tokens=0)
        answer = BudgetedReader(reader, budget)(T3, text)
        assert answer.cached and answer.values is not None and len(fake.requests) == 1
        assert budget.refused == 0 and budget.spent_cost == 0
        refused = BudgetedReader(reader, budget)(T3, table_text(7))
        assert refused.budget and len(fake.requests) == 1


def test_a_refused_table_keeps_the_rule_values_with_a_budget_finding(tmp_path):
    with FakeOpenAI(default=tool_call_reply(GOOD)) as fake:
        reader = reader_for(fake, tmp_path)
        budget = Budget(max_cost=0.001)
        result = extract_bytes(GARBLED.read_bytes(), "garbled.txt", llm="auto", reader=BudgetedReader(reader, budget))
        assert fake.requests == []
    assert result["status"] == "review"
    (finding,) = [f for f in result["findings"] if f["kind"] == "budget"]
    assert finding["message"] == "表三: not read by the LLM: the budget (max cost 0.001 USD) would be exceeded; the rule values are kept"
    assert not any(f["kind"] == "llm_failed" for f in result["findings"])
    (call,) = result["llm"]["calls"]
    assert call["budget"] is True and call["cost"] == 0
    assert "budget" not in LLMAnswer("applications", "m", "tools").record()  # absent unless refused


def test_meter_gives_back_what_was_not_billed():
    meter = RequestMeter(limit=(3000, 1000))
    meter.before(1000, 500)  # charged 1200 + 500
    meter.replied(429, None)  # rejected: not billed
    meter.before(1000, 500)
    meter.replied(200, json.dumps({"usage": {"prompt_tokens": 700, "completion_tokens": 90}}).encode())
    assert (meter.input_tokens, meter.output_tokens, meter.bound_input, meter.bound_output) == (700, 90, 1200, 500)
    meter.before(1000, 500)  # no reply: may be billed
    meter.finish()
    assert (meter.unanswered_input, meter.unanswered_output) == (1200, 500)
    with pytest.raises(RequestStopped, match="stopped before request 4"):
        meter.before(1, 1)  # 1000 output already charged
    assert meter.stopped
