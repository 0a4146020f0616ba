"""The LLM edge: one schema-constrained request per table, through openai + instructor.

- Transport failures (timeouts, connection errors, 429 honouring Retry-After, 5xx) are retried
  by tenacity with exponential back-off and jitter, within a bounded total time.
- A reply that fails validation is shown back to the model by instructor (bounded retries).
- Identity failures are never sent back: the printed numbers are the data.
- Every answer records its tokens and cost; answers are cached on disk, keyed by the table
  text, the prompt version, the model and the mode, so a rerun makes no request.

Failures end in an `LLMAnswer` with `error` set (and attempts, tokens and the last raw reply),
never in an exception: the caller keeps the rule result and reports what happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from . import template as T
from .llm_request import PROMPT_VERSION, TableValues, messages, response_model, values_of
from .settings import LOCAL, LLMSettings, default_cache_dir

_LAST_REPLY_CHARS = 2000  # of the last invalid reply, kept for the review report


@dataclass
class LLMAnswer:
    table: str
    model: str
    mode: str
    values: TableValues | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    attempts: int = 0
    seconds: float = 0.0
    cached: bool = False
    error: str | None = None
    last_reply: str | None = None

    def record(self) -> dict:
        """What the result shows of this call (values are in the tables themselves)."""
        out = {k: v for k, v in asdict(self).items() if k != "values"}
        return {k: v for k, v in out.items() if v is not None}


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

    @property
    def client(self):
        if self._instructor is None:
            import instructor
            import openai

            base_url = self._base_url() if callable(self._base_url) else self._base_url
            client = openai.OpenAI(
                base_url=base_url or self.settings.endpoint,
                api_key=self.settings.api_key or "not-needed",  # local servers take any key
                timeout=self.settings.effective_timeout,
                max_retries=0,  # tenacity does the retrying, with a bounded total time
            )
            self._instructor = instructor.from_openai(client, mode=instructor.Mode[self.mode.upper()])
        return self._instructor

    def read(self, shape: T.Shape, text: str) -> LLMAnswer:
        key = cache_key(shape, text, self.model, self.mode)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return LLMAnswer(shape.table, self.model, self.mode, values=hit["values"], cached=True,
                                 attempts=0, input_tokens=0, output_tokens=0)  # fmt: skip
        answer = self._request(shape, text)
        if answer.values is not None and self.cache is not None:
            self.cache.put(key, {"values": answer.values, "input_tokens": answer.input_tokens,
                                 "output_tokens": answer.output_tokens})  # fmt: skip
        return answer

    def _request(self, shape: T.Shape, text: str) -> LLMAnswer:
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
            retry=retry_if_exception(lambda e: _transport_error(e) is not None),
            wait=wait,
            stop=stop_after_delay(self.settings.retry_seconds) | stop_after_attempt(6),
        )
        try:
            for attempt in retrying:
                with attempt:
                    answer.attempts += 1
                    parsed, completion = self.client.chat.completions.create_with_completion(
                        model=self.model,
                        response_model=response_model(shape),
                        messages=messages(shape, text),
                        max_retries=self.settings.validation_retries,
                        max_tokens=self.settings.max_output_tokens,
                        temperature=0,
                    )
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
        answer.seconds = round(time.monotonic() - started, 3)
        answer.cost = self.settings.cost(answer.input_tokens, answer.output_tokens)
        return answer


@contextmanager
def open_reader(settings: LLMSettings, *, use_cache: bool = True) -> Iterator[Callable[[T.Shape, str], LLMAnswer] | None]:
    """The `reader` for `extract_document`, or None when the LLM is off or not configured.

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

        yield TableReader(settings, base_url=base_url, cache=cache).read


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
