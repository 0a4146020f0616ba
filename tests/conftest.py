"""Put tests/ on sys.path so test modules can `from layouts import ...`."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_llm_settings_from_the_machine(monkeypatch, tmp_path):
    """Tests see no API key, endpoint or config file of the person running them, and cache
    LLM answers in a fresh folder."""
    import os

    for name in list(os.environ):
        if name.startswith(("OPENAI_", "GXLLM_")) and not name.startswith("GXLLM_RECORD"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GXLLM_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("GXLLM_CACHE_DIR", str(tmp_path / "llm-cache"))
