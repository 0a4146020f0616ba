"""LLM settings from flags, environment and an optional config file, in that order of precedence.

    OPENAI_API_KEY, OPENAI_BASE_URL                   any OpenAI-compatible endpoint
    GXLLM_MODEL, GXLLM_LLM (auto|always|never), GXLLM_LLM_MODE (tools|json_schema|json|md_json)
    GXLLM_LLM_ENDPOINT (a URL, or "local"), GXLLM_PRICE_IN, GXLLM_PRICE_OUT, GXLLM_CACHE_DIR
    GXLLM_CONFIG                                      the config file (default ~/.config/gxllm/config.toml)

The config file is TOML with an `[llm]` table using the same names in lower case without the
prefix (`model = "deepseek-chat"`, `price_in = 0.27`). `gxllm config` shows the effective
settings and where each came from, with the key masked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from .errors import GxllmError
from .llm.prices import price_of

if TYPE_CHECKING:  # pathlib (with urllib.parse) loads only where a Path is made: not for a rules-only run
    from pathlib import Path

LLM_CHOICES = ("auto", "always", "never")
MODE_CHOICES = ("tools", "json_schema", "json", "md_json")
LOCAL = "local"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b"  # see llm.local_model.MODELS

# What each kind of endpoint supports best. llama.cpp's server constrains tool calls with a
# grammar (always schema-valid) and answers json_schema with HTTP 500; DeepSeek and DashScope
# take tools; Ollama's OpenAI endpoint is most reliable with plain JSON mode.
_MODE_BY_HOST = {"api.openai.com": "tools", "api.deepseek.com": "tools", "dashscope.aliyuncs.com": "tools"}
_MODE_BY_PORT = {11434: "json"}  # Ollama


@dataclass(frozen=True)
class LLMSettings:
    llm: str = "auto"
    endpoint: str | None = None  # base URL, "local", or None for the SDK default (api.openai.com)
    api_key: str | None = None
    model: str | None = None
    llm_mode: str | None = None  # None: chosen per endpoint
    price_in: float | None = None  # per 1M input tokens; None: from the price table
    price_out: float | None = None
    cache_dir: str | None = None
    timeout: float | None = None  # seconds per request; None: 120, or 900 for a local model on a CPU
    retry_seconds: float = 300.0  # total time transport retries may take
    validation_retries: int = 2  # times the model is shown its invalid reply and asked again
    max_output_tokens: int = 2000
    sources: dict[str, str] = field(default_factory=dict, compare=False)  # field -> flag/env/config/default

    @property
    def configured(self) -> bool:
        """Whether an LLM can be called: a local model, an endpoint, or an API key."""
        return self.endpoint is not None or self.api_key is not None

    @property
    def effective_model(self) -> str:
        return self.model or (DEFAULT_LOCAL_MODEL if self.endpoint == LOCAL else DEFAULT_MODEL)

    @property
    def effective_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 900.0 if self.endpoint == LOCAL else 120.0

    @property
    def effective_mode(self) -> str:
        if self.llm_mode:
            return self.llm_mode
        if self.endpoint in (None, LOCAL):
            return "tools"
        from urllib.parse import urlparse  # only for a configured endpoint: rules-only runs skip it

        url = urlparse(self.endpoint)
        return _MODE_BY_PORT.get(url.port or 0) or _MODE_BY_HOST.get(url.hostname or "", "tools")

    @property
    def prices(self) -> tuple[float, float, str]:
        """(input, output) price per 1M tokens and the currency."""
        listed_in, listed_out, currency = price_of(self.effective_model, local=self.endpoint == LOCAL)
        return (
            listed_in if self.price_in is None else self.price_in,
            listed_out if self.price_out is None else self.price_out,
            currency,
        )

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        price_in, price_out, _ = self.prices
        return (input_tokens * price_in + output_tokens * price_out) / 1_000_000


_ENV = {
    "llm": "GXLLM_LLM",
    "endpoint": "GXLLM_LLM_ENDPOINT",
    "api_key": "OPENAI_API_KEY",
    "model": "GXLLM_MODEL",
    "llm_mode": "GXLLM_LLM_MODE",
    "price_in": "GXLLM_PRICE_IN",
    "price_out": "GXLLM_PRICE_OUT",
    "cache_dir": "GXLLM_CACHE_DIR",
}


def config_path(env: dict[str, str]) -> str:
    if env.get("GXLLM_CONFIG"):
        return env["GXLLM_CONFIG"]
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "gxllm", "config.toml")


def _config(path: str) -> dict:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise GxllmError(f"{path}: cannot read the config file ({error})") from None
    import tomllib  # only when there is a config file to read

    try:
        with f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise GxllmError(f"{path}: cannot read the config file ({error})") from None
    llm = data.get("llm", {})
    if not isinstance(llm, dict):
        raise GxllmError(f"{path}: [llm] must be a table")
    return llm


def load_settings(flags: dict[str, object] | None = None, env: dict[str, str] | None = None) -> LLMSettings:
    """Flags (None = not given) over environment over config file over defaults. Raises GxllmError."""
    env = dict(os.environ) if env is None else env
    flags = flags or {}
    path = config_path(env)
    config = _config(path)
    names = {f.name for f in fields(LLMSettings)} - {"sources"}
    unknown = set(config) - names
    if unknown:
        raise GxllmError(f"{path}: unknown setting(s) in [llm]: {', '.join(sorted(unknown))}")
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name in sorted(names):
        if flags.get(name) is not None:
            values[name], sources[name] = flags[name], "flag"
        elif name in _ENV and env.get(_ENV[name]):
            values[name], sources[name] = env[_ENV[name]], f"env {_ENV[name]}"
        elif name == "endpoint" and env.get("OPENAI_BASE_URL"):
            values[name], sources[name] = env["OPENAI_BASE_URL"], "env OPENAI_BASE_URL"
        elif name in config:
            values[name], sources[name] = config[name], f"config {path}"
        else:
            sources[name] = "default"
    return _checked(values, sources)


def _checked(values: dict[str, object], sources: dict[str, str]) -> LLMSettings:
    typed: dict[str, object] = {}
    for name, value in values.items():
        try:
            if name in ("price_in", "price_out", "timeout", "retry_seconds"):
                typed[name] = float(value)  # type: ignore[arg-type]
            elif name in ("validation_retries", "max_output_tokens"):
                typed[name] = int(value)  # type: ignore[arg-type]
            else:
                typed[name] = str(value)
        except (TypeError, ValueError):
            raise GxllmError(f"{name} must be a number, got {value!r} ({sources[name]})") from None
    if typed.get("llm", "auto") not in LLM_CHOICES:
        raise GxllmError(f"llm must be one of {', '.join(LLM_CHOICES)}, got {typed['llm']!r} ({sources['llm']})")
    if typed.get("llm_mode") is not None and typed["llm_mode"] not in MODE_CHOICES:
        raise GxllmError(
            f"llm_mode must be one of {', '.join(MODE_CHOICES)}, got {typed['llm_mode']!r} ({sources['llm_mode']})"
        )
    endpoint = typed.get("endpoint")
    if endpoint not in (None, LOCAL):
        from urllib.parse import urlparse

        if urlparse(str(endpoint)).scheme not in ("http", "https"):
            raise GxllmError(f"endpoint must be an http(s) URL or 'local', got {endpoint!r} ({sources['endpoint']})")
    return LLMSettings(**typed, sources=sources)  # type: ignore[arg-type]


def mask(key: str | None) -> str | None:
    if not key:
        return None
    return key[:3] + "…" + key[-4:] if len(key) > 12 else "…" * 3


def describe(settings: LLMSettings) -> dict[str, object]:
    """The effective settings, key masked, each with where it came from (for `gxllm config`)."""
    price_in, price_out, currency = settings.prices
    return {
        "llm": settings.llm,
        "endpoint": settings.endpoint or "https://api.openai.com/v1 (SDK default)",
        "api_key": mask(settings.api_key),
        "model": settings.effective_model,
        "llm_mode": settings.effective_mode,
        "price_per_1m_tokens": {"input": price_in, "output": price_out, "currency": currency},
        "cache_dir": settings.cache_dir or str(default_cache_dir()),
        "timeout": settings.effective_timeout,
        "retry_seconds": settings.retry_seconds,
        "validation_retries": settings.validation_retries,
        "max_output_tokens": settings.max_output_tokens,
        "configured": settings.configured,
        "sources": settings.sources,
    }


def cache_home() -> Path:
    """gxllm's folder for caches (LLM answers, local models): $XDG_CACHE_HOME/gxllm or ~/.cache/gxllm."""
    from pathlib import Path

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "gxllm"


def default_cache_dir() -> Path:
    return cache_home() / "llm"
