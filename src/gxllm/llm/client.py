"""The LLM edge: one schema-constrained request per table, through openai + instructor.

- Transport failures (timeouts, connection errors, 429 honouring Retry-After, 5xx) are retried
  by tenacity with exponential back-off and jitter, within a bounded total time.
- A reply that fails validation is shown back to the model by instructor (bounded retries).
- Identity failures are never sent back: the printed numbers are the data.
- Every answer records its tokens and cost; answers are cached on disk, keyed by the table
  text, the prompt version, the model and the mode, so a rerun makes no request.

Failures end in an `LLMAnswer` (request.py) with `error` set (and attempts, tokens and the last raw reply),
never in an exception: the caller keeps the rule result and reports what happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from pathlib import Path

from .. import template as T
from ..settings import LOCAL, LLMSettings, default_cache_dir
from .request import PROMPT_VERSION, LLMAnswer, messages, response_model, values_of

_LAST_REPLY_CHARS = 2000  # of the last invalid reply, kept for the review report


# A request is bounded before it is sent: its input tokens by the UTF-8 bytes of its JSON body
# (a token is never shorter than one byte) plus what a provider wraps around the text (chat
# template, tool preamble), its output tokens by max_output_tokens.
ENVELOPE_BYTES = 200


class RequestStopped(Exception):
    """Raised before sending a request that could take a read past its limit."""


class RequestMeter:
    """Every HTTP request of one read, seen on the wire (validation retries and transport retries
    included): the usage the replies report and, with a limit (input, output tokens), a check
    before each request that the read stays within it.

    Each request is charged its bound when sent. An HTTP error reply (4xx/5xx) is not billed and
    gives its bound back, so does a connection that was never made; a request that got no reply
    (a timeout, a dropped connection) may have been billed and keeps it (`unanswered_*`).
    """

    def __init__(self, limit: tuple[int, int] | None = None):
        self.limit = limit
        self.input_tokens = self.output_tokens = 0  # as the replies report them
        self.bound_input = self.bound_output = 0  # the bounds of the requests that may be billed
        self.unanswered_input = self.unanswered_output = 0  # of those, the ones that got no reply
        self.requests = 0
        self.stopped: str | None = None
        self._pending: tuple[int, int] | None = None  # the request in flight

    def before(self, body_bytes: int, max_output: int) -> None:
        self.finish()
        bound = (body_bytes + ENVELOPE_BYTES, max_output)
        if self.limit is not None and (
            self.bound_input + bound[0] > self.limit[0] or self.bound_output + bound[1] > self.limit[1]
        ):
            self.stopped = (
                f"stopped before request {self.requests + 1}: it could take this table past the "
                f"{self.limit[0]} input + {self.limit[1]} output tokens reserved for it"
            )
            raise RequestStopped(self.stopped)
        self.bound_input += bound[0]
        self.bound_output += bound[1]
        self.requests += 1
        self._pending = bound

    def replied(self, status: int, body: bytes | None) -> None:
        bound, self._pending = self._pending, None
        if status >= 400:
            self._give_back(bound)
            return
        try:
            usage = json.loads(body or b"null").get("usage") or {}
            self.input_tokens += int(usage.get("prompt_tokens") or 0)
            self.output_tokens += int(usage.get("completion_tokens") or 0)
        except (ValueError, TypeError, AttributeError):
            pass

    def not_sent(self) -> None:
        """The request in flight never reached the server (the connection was not made)."""
        bound, self._pending = self._pending, None
        self._give_back(bound)

    def finish(self) -> None:
        if self._pending is not None:
            self.unanswered_input += self._pending[0]
            self.unanswered_output += self._pending[1]
            self._pending = None

    def _give_back(self, bound: tuple[int, int] | None) -> None:
        if bound is not None:
            self.bound_input -= bound[0]
            self.bound_output -= bound[1]


class ResponseCache:
    """Validated answers on disk, one JSON file per key; written atomically."""

    def __init__(self, folder: str | os.PathLike[str] | None = None):
        self.folder = Path(folder) if folder else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self._path(key).read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False) as tmp:
            json.dump(value, tmp, ensure_ascii=False)
        os.replace(tmp.name, path)


def cache_key(shape: T.Shape, text: str, model: str, mode: str) -> str:
    identity = json.dumps([PROMPT_VERSION, model, mode, shape.table, shape.variant, len(shape.columns), text])
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _transport_error(error: BaseException) -> BaseException | None:
    """The network-level failure behind an error (instructor wraps the SDK's), if there is one."""
    import openai

    retryable = (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, retryable):
            return error
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
        seen += 1
    return None


def _retry_after(error: BaseException) -> float | None:
    response = getattr(_transport_error(error), "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class TableReader:
    """Reads tables with one configured model. Calls `read`; never raises for LLM failures.

    `base_url` may be a function: it is called on the first request that the cache cannot
    answer, so a local model server is only started when a table really needs it.
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        base_url: str | Callable[[], str] | None = None,
        cache: ResponseCache | None = None,
    ):
        self.settings = settings
        self.model = settings.effective_model
        self.mode = settings.effective_mode
        self.cache = cache
        self._base_url = base_url
        self._instructor = None
        self._client_lock = threading.Lock()
        self._local = threading.local()  # the RequestMeter of the read running in this thread

    @property
    def client(self):
        with self._client_lock:  # batch threads: one client, and one local server, not several
            return self._instructor or self._connect()

    def _connect(self):
        if self._instructor is None:
            import instructor
            import openai

            base_url = self._base_url() if callable(self._base_url) else self._base_url
            client = openai.OpenAI(
                base_url=base_url or self.settings.endpoint,
                api_key=self.settings.api_key or "not-needed",  # local servers take any key
                timeout=self.settings.effective_timeout,
                max_retries=0,  # tenacity does the retrying, with a bounded total time
                http_client=openai.DefaultHttpxClient(
                    event_hooks={"request": [self._on_request], "response": [self._on_response]}
                ),
            )
            self._instructor = instructor.from_openai(client, mode=instructor.Mode[self.mode.upper()])
        return self._instructor

    def __call__(self, shape: T.Shape, text: str) -> LLMAnswer:
        return self.read(shape, text)

    def _on_request(self, request) -> None:
        meter = getattr(self._local, "meter", None)
        if meter is not None:
            meter.before(len(request.content), self.settings.max_output_tokens)

    def _on_response(self, response) -> None:
        meter = getattr(self._local, "meter", None)
        if meter is not None:
            meter.replied(response.status_code, None if response.status_code >= 400 else response.read())

    def cached(self, shape: T.Shape, text: str) -> bool:
        return self.cache is not None and self.cache.get(cache_key(shape, text, self.model, self.mode)) is not None

    def worst_case(self, shape: T.Shape, text: str) -> tuple[int, int]:
        """An upper bound of the (input, output) tokens one `read` can be billed, before asking;
        (0, 0) when the cache holds the answer.

        Every attempt is bounded as RequestMeter bounds it (body bytes + ENVELOPE_BYTES input,
        max_output_tokens output). A validation retry re-sends the conversation grown by each
        failed reply (bounded by max_output_tokens bytes) and the validation error shown back
        (`_reask_allowance`); so attempt k (0-based) sends at most first + k × growth. A read
        given a RequestMeter with this limit sends nothing beyond it (a reply or an error text
        larger than allowed ends the read instead of its retry).
        """
        if self.cached(shape, text):
            return (0, 0)
        retries = max(0, self.settings.validation_retries)
        first = self._request_bytes(shape, text) + ENVELOPE_BYTES
        growth = self.settings.max_output_tokens + _reask_allowance(shape)
        input_bound = (1 + retries) * first + growth * retries * (retries + 1) // 2
        return input_bound, (1 + retries) * self.settings.max_output_tokens

    def _request_bytes(self, shape: T.Shape, text: str) -> int:
        """The UTF-8 bytes of the first request's JSON body, built as instructor builds it."""
        kwargs = {"model": self.model, "messages": messages(shape, text),
                  "max_tokens": self.settings.max_output_tokens, "temperature": 0}  # fmt: skip
        try:
            import instructor
            from instructor.v2.core.providers import Provider
            from instructor.v2.core.registry import mode_registry
            from instructor.v2.core.response_model import prepare_response_model

            handlers = mode_registry.get_handlers(Provider.OPENAI, instructor.Mode[self.mode.upper()])
            _, body = handlers.request_handler(response_model=prepare_response_model(response_model(shape)), kwargs=kwargs)
        except Exception:  # another instructor: the schema both as a tool and as indented prose
            schema = response_model(shape).model_json_schema()
            prose = json.dumps(schema, indent=2, ensure_ascii=False) + " " * 1024
            body = dict(kwargs, tools=[{"type": "function", "function": {"parameters": schema}}], prose=prose)
        return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    def read(self, shape: T.Shape, text: str, *, meter: RequestMeter | None = None) -> LLMAnswer:
        """`meter` (optional) counts, and with a limit bounds, this read's requests."""
        key = cache_key(shape, text, self.model, self.mode)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return LLMAnswer(shape.table, self.model, self.mode, values=hit["values"], cached=True,
                                 attempts=0, input_tokens=0, output_tokens=0)  # fmt: skip
        meter = meter or RequestMeter()
        self._local.meter = meter
        try:
            answer = self._request(shape, text, meter)
        finally:
            self._local.meter = None
            meter.finish()
        if answer.values is not None and self.cache is not None:
            self.cache.put(key, {"values": answer.values, "input_tokens": answer.input_tokens,
                                 "output_tokens": answer.output_tokens})  # fmt: skip
        return answer

    def _request(self, shape: T.Shape, text: str, meter: RequestMeter) -> LLMAnswer:
        from instructor.core import InstructorRetryException
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
        from tenacity.wait import wait_exponential_jitter

        answer = LLMAnswer(shape.table, self.model, self.mode)
        started = time.monotonic()
        fallback_wait = wait_exponential_jitter(initial=1, max=30)

        def wait(state) -> float:
            error = state.outcome.exception() if state.outcome else None
            after = _retry_after(error) if error else None
            return min(after, 60.0) if after is not None else fallback_wait(state)

        retrying = Retrying(
            retry=retry_if_exception(lambda e: _transport_error(e) is not None and meter.stopped is None),
            wait=wait,
            stop=stop_after_delay(self.settings.retry_seconds) | stop_after_attempt(6),
        )
        try:
            for attempt in retrying:
                with attempt:
                    answer.attempts += 1
                    try:
                        parsed, completion = self.client.chat.completions.create_with_completion(
                            model=self.model,
                            response_model=response_model(shape),
                            messages=messages(shape, text),
                            max_retries=self.settings.validation_retries,
                            max_tokens=self.settings.max_output_tokens,
                            temperature=0,
                        )
                    except Exception as error:
                        if _never_sent(error):
                            meter.not_sent()
                        raise
            usage = getattr(completion, "usage", None)
            answer.input_tokens = getattr(usage, "prompt_tokens", 0) or 0
            answer.output_tokens = getattr(usage, "completion_tokens", 0) or 0
            answer.values = values_of(parsed, shape)
        except RetryError as error:  # transport retries exhausted
            last = error.last_attempt.exception()
            answer.error = f"gave up after {answer.attempts} attempt(s): {_describe(last)}"
        except InstructorRetryException as error:  # the model never gave a valid reply
            usage = error.total_usage
            answer.input_tokens = getattr(usage, "prompt_tokens", 0) or 0
            answer.output_tokens = getattr(usage, "completion_tokens", 0) or 0
            answer.attempts = error.n_attempts or answer.attempts
            answer.error = f"no valid reply after {answer.attempts} attempt(s): {_first_line(str(error))}"
            answer.last_reply = _reply_text(error.last_completion)
        except Exception as error:  # authentication, a bad model name, a refused request: report, don't crash
            answer.error = _describe(error)
        if meter.requests:  # what the wire saw: also the attempts a transport retry started over
            answer.input_tokens, answer.output_tokens = meter.input_tokens, meter.output_tokens
        if meter.stopped:
            answer.values, answer.error = None, meter.stopped
        answer.seconds = round(time.monotonic() - started, 3)
        answer.cost = self.settings.cost(answer.input_tokens, answer.output_tokens)
        return answer


@contextmanager
def open_reader(settings: LLMSettings, *, use_cache: bool = True) -> Iterator[TableReader | None]:
    """The `reader` for `extract_document` (a TableReader is callable), or None when the LLM is
    off or not configured.

    With `endpoint = local` the llama.cpp server is started on the first request the cache
    cannot answer and stopped when the block ends.
    """
    if settings.llm == "never" or not settings.configured:
        yield None
        return
    cache = ResponseCache(settings.cache_dir) if use_cache else None
    with ExitStack() as stack:
        base_url: str | Callable[[], str] | None = None
        if settings.endpoint == LOCAL:
            from .local_model import LocalServer

            def base_url() -> str:
                return stack.enter_context(LocalServer(settings.effective_model)).base_url

        yield TableReader(settings, base_url=base_url, cache=cache)


@lru_cache(maxsize=None)
def _reask_allowance(shape: T.Shape) -> int:
    """Bytes allowed for the validation error shown back after one failed reply: twice what a
    reply missing every row produces, plus instructor's words and the message around them."""
    from pydantic import ValidationError

    try:
        response_model(shape).model_validate({})
        every_row_missing = ""
    except ValidationError as error:
        every_row_missing = str(error)
    return 2 * len(every_row_missing.encode("utf-8")) + 1024


def _never_sent(error: BaseException | None) -> bool:
    """Whether a failed request never reached the server (no connection was made)."""
    import httpx

    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
        seen += 1
    return False


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _describe(error: BaseException | None) -> str:
    cause = _transport_error(error) if error is not None else None
    error = cause or error
    return f"{type(error).__name__}: {_first_line(str(error))}" if error is not None else "unknown error"


def _reply_text(completion) -> str | None:
    """The raw text of a chat completion: tool-call arguments or message content."""
    try:
        message = completion.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return None
    calls = getattr(message, "tool_calls", None) or []
    text = calls[0].function.arguments if calls else message.content
    return text[:_LAST_REPLY_CHARS] if text else None
