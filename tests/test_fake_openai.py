"""The fake OpenAI server works with the real openai SDK and instructor.

No network but 127.0.0.1: an autouse fixture makes any other connect() fail.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import instructor
import openai
import pytest
from fake_openai import (
    FakeOpenAI,
    Reply,
    content_reply,
    error_reply,
    tool_call_reply,
)
from instructor.core import InstructorRetryException
from pydantic import BaseModel, field_validator

MSGS = [{"role": "user", "content": "谁？"}]


class Person(BaseModel):
    name: str
    age: int

    @field_validator("age")
    @classmethod
    def _adult(cls, v: int) -> int:
        if v < 18:
            raise ValueError("age must be at least 18")
        return v


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Fail any socket connect() to anything but the loopback address."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "::1", "localhost"):
                raise AssertionError(f"test tried to reach the network: {address!r}")

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake():
    with FakeOpenAI() as f:
        yield f


_clients: list = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _clients:
        _clients.pop().close()


def client(fake: FakeOpenAI, **kw) -> openai.OpenAI:
    """openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0, **kw).

    The explicit http_client (the SDK's own defaults) skips loading the CA
    bundle (verify=False: ~30 ms per client, moot for http://127.0.0.1) and
    ignores proxy variables (trust_env=False).
    """
    kw.setdefault("max_retries", 0)
    kw.setdefault("http_client", openai.DefaultHttpxClient(verify=False, trust_env=False))
    c = openai.OpenAI(base_url=fake.base_url, api_key="x", **kw)
    _clients.append(c)
    return c


# -- plain SDK -----------------------------------------------------------------

def test_guard_blocks_real_network():
    with socket.socket() as s, pytest.raises(AssertionError, match="network"):
        s.connect(("192.0.2.1", 80))  # TEST-NET-1


def test_plain_chat_completion_with_tool_call(fake):
    fake.queue(tool_call_reply({"name": "张三", "age": 30}, name="Person",
                               prompt_tokens=11, completion_tokens=7))
    c = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)  # stock client
    _clients.append(c)
    resp = c.chat.completions.create(model="m", messages=MSGS)
    msg = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls[0].function.name == "Person"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"name": "张三", "age": 30}
    assert msg.tool_calls[0].id  # filled in by the server
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 7)
    req = fake.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer x"
    assert req["json"]["messages"] == MSGS and req["json"]["model"] == "m"
    assert fake.usage_total() == {"prompt_tokens": 11, "completion_tokens": 7,
                                  "total_tokens": 18, "calls": 1}


def test_models_list_empty_queue_and_unknown_route(fake):
    c = client(fake)
    assert [m.id for m in c.models.list()] == ["fake"]
    with pytest.raises(openai.InternalServerError, match="no reply queued"):
        c.chat.completions.create(model="m", messages=MSGS)
    with pytest.raises(openai.NotFoundError):
        c.embeddings.create(model="m", input="x")
    fake.queue(Reply())  # body None -> empty 200 completion
    assert client(fake).chat.completions.create(model="m", messages=MSGS).choices[0].message.content == ""
    assert fake.usage_total()["calls"] == 1 and fake.usage_total()["prompt_tokens"] == 0


def test_broken_default_callable_is_reported(fake):
    fake.default = lambda request: tool_call_reply(request["no such key"])
    with pytest.raises(openai.InternalServerError, match=r"KeyError: 'no such key' \(at .*test_fake_openai.py"):
        client(fake).chat.completions.create(model="m", messages=MSGS)
    assert isinstance(fake.errors[0], KeyError)


def test_raw_text_body(fake):
    # The SDK lets json.JSONDecodeError escape for a broken 200 body.
    fake.queue(Reply(body="not json", headers={"Content-Type": "application/json"}))
    with pytest.raises(json.JSONDecodeError):
        client(fake).chat.completions.create(model="m", messages=MSGS)


# -- instructor ----------------------------------------------------------------

def test_instructor_tools_mode_parses_and_reports_usage(fake):
    fake.queue(tool_call_reply({"name": "张三", "age": 30}))  # name taken from request
    ic = instructor.from_openai(client(fake), mode=instructor.Mode.TOOLS)
    person, completion = ic.chat.completions.create_with_completion(
        model="m", response_model=Person, messages=MSGS)
    assert person.model_dump() == {"name": "张三", "age": 30}
    assert completion.usage.prompt_tokens == 100 and completion.usage.completion_tokens == 20
    sent = fake.requests[0]["json"]
    # What instructor sends in TOOLS mode: one tool named after the model class,
    # forced via tool_choice; messages untouched (no system prompt).
    assert [t["function"]["name"] for t in sent["tools"]] == ["Person"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert sent["messages"] == MSGS


def test_instructor_tools_mode_ignores_tool_name(fake):
    # instructor 1.17 parses tool_calls[0].arguments whatever the tool is called
    # (names only matter for Iterable[Union[...]] parallel tools).
    fake.queue(tool_call_reply({"name": "A", "age": 30}, name="Other"))
    ic = instructor.from_openai(client(fake), mode=instructor.Mode.TOOLS)
    assert ic.chat.completions.create(model="m", response_model=Person, messages=MSGS,
                                      max_retries=0).age == 30


def test_instructor_tools_reask_feeds_validation_error_back(fake):
    fake.queue(tool_call_reply({"name": "小明", "age": 9}), tool_call_reply({"name": "小明", "age": 19}))
    ic = instructor.from_openai(client(fake), mode=instructor.Mode.TOOLS)
    person, completion = ic.chat.completions.create_with_completion(
        model="m", response_model=Person, messages=MSGS, max_retries=2)
    assert person.age == 19
    assert len(fake.requests) == 2
    first_call = fake.served[0]["body"]["choices"][0]["message"]["tool_calls"][0]
    extra = fake.requests[1]["json"]["messages"][len(MSGS):]
    # TOOLS reask = the failed assistant tool call + a role "tool" message with the error.
    assert extra[0]["role"] == "assistant"
    assert extra[0]["tool_calls"][0]["id"] == first_call["id"]
    assert extra[1]["role"] == "tool" and extra[1]["tool_call_id"] == first_call["id"]
    assert "age must be at least 18" in extra[1]["content"]
    assert extra[1]["content"].startswith("Validation Error found:")
    # The returned completion's usage is the SUM over both attempts.
    assert completion.usage.prompt_tokens == 200 and completion.usage.completion_tokens == 40
    assert fake.usage_total()["prompt_tokens"] == 200


def test_instructor_json_mode_reask(fake):
    fake.queue(content_reply('{"name": "A", "age": 3}'), content_reply('{"name": "A", "age": 30}'))
    ic = instructor.from_openai(client(fake), mode=instructor.Mode.JSON)
    assert ic.chat.completions.create(model="m", response_model=Person, messages=MSGS,
                                      max_retries=1).age == 30
    first, second = (r["json"] for r in fake.requests)
    assert first["response_format"] == {"type": "json_object"}
    assert first["messages"][0]["role"] == "system" and '"age"' in first["messages"][0]["content"]
    extra = second["messages"][len(first["messages"]):]
    assert extra[0] == {"role": "assistant", "content": '{"name": "A", "age": 3}'}
    assert extra[1]["role"] == "user"
    assert extra[1]["content"].startswith("Correct your JSON ONLY RESPONSE")
    assert "age must be at least 18" in extra[1]["content"]


def test_json_modes_need_bare_json_but_md_json_extracts(fake):
    fenced = 'Sure:\n```json\n{"name": "A", "age": 30}\n```'
    c = client(fake)
    fake.queue(content_reply(fenced))
    with pytest.raises(InstructorRetryException, match="json_invalid"):
        instructor.from_openai(c, mode=instructor.Mode.JSON_SCHEMA).chat.completions.create(
            model="m", response_model=Person, messages=MSGS, max_retries=0)
    assert fake.requests[0]["json"]["response_format"]["type"] == "json_schema"
    fake.queue(content_reply(fenced))
    assert instructor.from_openai(c, mode=instructor.Mode.MD_JSON).chat.completions.create(
        model="m", response_model=Person, messages=MSGS).age == 30
    md = fake.requests[1]["json"]
    assert "response_format" not in md and "tools" not in md
    assert "```json" in md["messages"][-1]["content"]  # instruction appended to the user turn


def test_instructor_wraps_transport_errors_without_retrying(fake):
    fake.queue(Reply(drop=True))
    ic = instructor.from_openai(client(fake), mode=instructor.Mode.TOOLS)
    with pytest.raises(InstructorRetryException) as ei:
        ic.chat.completions.create(model="m", response_model=Person, messages=MSGS, max_retries=2)
    assert isinstance(ei.value.__cause__, openai.APIConnectionError)
    assert len(fake.requests) == 1  # instructor only retries parse/validation errors


# -- transport failures and SDK retries ----------------------------------------

def test_429_retry_after_zero_recovers(fake):
    fake.queue(error_reply(429, "slow down", retry_after="0"), tool_call_reply({"a": 1}))
    resp = client(fake, max_retries=1).chat.completions.create(model="m", messages=MSGS)
    assert resp.choices[0].message.tool_calls
    assert [r["headers"]["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]


def test_429_retry_after_is_honoured(fake):
    # The SDK ignores Retry-After <= 0 (falls back to ~0.4-0.5 s backoff), so a
    # small positive value proves the header reached it: the retry is fast.
    fake.queue(error_reply(429, retry_after="0.01"), tool_call_reply({"a": 1}))
    t = time.monotonic()
    client(fake, max_retries=1).chat.completions.create(model="m", messages=MSGS)
    assert time.monotonic() - t < 0.3
    assert len(fake.requests) == 2
    assert fake.served[0]["status"] == 429
    assert fake.usage_total()["calls"] == 1  # errors are not billed


def test_500_then_success(fake):
    fake.queue(error_reply(500, "boom", retry_after="0.01"), content_reply("ok"))
    resp = client(fake, max_retries=1).chat.completions.create(model="m", messages=MSGS)
    assert resp.choices[0].message.content == "ok"
    with pytest.raises(openai.InternalServerError, match="boom"):
        fake.queue(error_reply(500, "boom"))
        client(fake).chat.completions.create(model="m", messages=MSGS)


def test_delay_triggers_client_timeout_and_shutdown_is_prompt():
    t = time.monotonic()
    with FakeOpenAI() as fake:
        fake.queue(Reply(delay=2, body=content_reply("late").body))
        with pytest.raises(openai.APITimeoutError):
            client(fake, timeout=0.2).chat.completions.create(model="m", messages=MSGS)
        assert time.monotonic() - t < 1
    assert time.monotonic() - t < 1.2  # __exit__ woke the sleeping handler
    assert fake.usage_total()["calls"] == 0


def test_delay_does_not_block_other_requests_and_close_interrupts_it():
    with FakeOpenAI(default=content_reply("fast")) as fake:
        fake.queue(Reply(delay=30, body=content_reply("slow").body))
        c = client(fake, timeout=5)
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(c.chat.completions.create, model="m", messages=MSGS)
            while not fake.requests:
                time.sleep(0.005)
            t = time.monotonic()
            assert c.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "fast"
            assert time.monotonic() - t < 0.3
            fake.close()  # wakes the sleeping handler, which drops its connection
            with pytest.raises(openai.APIConnectionError):
                slow.result(timeout=2)
    assert fake.usage_total()["calls"] == 1  # the abandoned reply was never billed


def test_drop_raises_connection_error(fake):
    fake.queue(Reply(drop=True), content_reply("after"))
    c = client(fake)
    with pytest.raises(openai.APIConnectionError):
        c.chat.completions.create(model="m", messages=MSGS)
    # the same client recovers on the next call
    assert c.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "after"


def test_raw_httpx_sees_error_body_and_headers(fake):
    fake.queue(error_reply(429, "quota", retry_after="7"))
    r = httpx.post(fake.base_url + "/chat/completions", json={"messages": []}, trust_env=False)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["error"]["message"] == "quota"
    assert r.json()["error"]["type"] == "rate_limit_error"


# -- concurrency / billing -----------------------------------------------------

def test_callable_default_under_concurrency(fake):
    n_threads, per_thread = 8, 3
    barrier = threading.Barrier(n_threads, timeout=2)  # proves 8 requests in flight at once

    def answer(req: dict) -> Reply:
        i = int(req["messages"][-1]["content"].split("=")[1])
        if i < n_threads:  # each client thread's first request
            barrier.wait()
        return tool_call_reply({"name": f"p{i}", "age": 20 + i},
                               prompt_tokens=10 + i, completion_tokens=i)

    fake.default = answer
    ic = instructor.from_openai(client(fake, timeout=5), mode=instructor.Mode.TOOLS)

    def work(t: int) -> list[Person]:
        out = []
        for k in range(per_thread):
            i = t + n_threads * k
            out.append(ic.chat.completions.create(
                model="m", response_model=Person,
                messages=[{"role": "user", "content": f"i={i}"}]))
        return out

    with ThreadPoolExecutor(n_threads) as pool:
        results = [p for ps in pool.map(work, range(n_threads)) for p in ps]

    n = n_threads * per_thread
    assert sorted(p.age for p in results) == [20 + i for i in range(n)]
    assert len(fake.requests) == n
    assert fake.usage_total() == {
        "prompt_tokens": sum(10 + i for i in range(n)),
        "completion_tokens": sum(range(n)),
        "total_tokens": sum(10 + 2 * i for i in range(n)),
        "calls": n,
    }
