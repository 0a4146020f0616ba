"""LLM settings: precedence, validation with one-line errors, and `gxllm config` with the key masked."""

import json

import pytest

from gxllm.cli import main
from gxllm.errors import GxllmError
from gxllm.settings import load_settings


def test_flags_over_environment_over_config_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[llm]\nmodel = "qwen-plus"\nendpoint = "https://dashscope.aliyuncs.com/compatible-mode/v1"\n'
                      "price_in = 0.5\n", "utf-8")
    env = {"GXLLM_CONFIG": str(config), "GXLLM_MODEL": "deepseek-chat", "OPENAI_API_KEY": "sk-0123456789abcdef"}
    settings = load_settings({"model": "gpt-4o-mini"}, env)
    assert settings.effective_model == "gpt-4o-mini" and settings.sources["model"] == "flag"
    assert settings.endpoint == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert settings.sources["endpoint"] == f"config {config}"
    assert settings.prices == (0.5, 0.6, "USD")  # price_in from the config, price_out from the table
    assert settings.effective_mode == "tools" and settings.configured
    assert load_settings({}, {"GXLLM_CONFIG": str(tmp_path / "none.toml")}).configured is False
    ollama = load_settings({"endpoint": "http://127.0.0.1:11434/v1"}, {"GXLLM_CONFIG": str(config)})
    assert ollama.effective_mode == "json"
    local = load_settings({"endpoint": "local"}, {"GXLLM_CONFIG": str(config)})
    assert (local.effective_model, local.effective_mode, local.effective_timeout) == ("qwen-plus", "tools", 900.0)


@pytest.mark.parametrize(
    "flags, config, message",
    [
        ({"llm_mode": "xml"}, "", "llm_mode must be one of tools, json_schema, json, md_json, got 'xml' (flag)"),
        ({"endpoint": "api.openai.com"}, "", "endpoint must be an http(s) URL or 'local', got 'api.openai.com' (flag)"),
        ({}, "[llm]\nprice_in = 'cheap'\n", "price_in must be a number, got 'cheap' (config {path})"),
        ({}, "[llm]\nmodle = 'x'\n", "{path}: unknown setting(s) in [llm]: modle"),
        ({}, "[llm\n", "{path}: cannot read the config file (Expected ']' at the end of a table declaration (at line 1, column 5))"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, flags, config, message):
    path = tmp_path / "config.toml"
    path.write_text(config, "utf-8")
    with pytest.raises(GxllmError) as error:
        load_settings(flags, {"GXLLM_CONFIG": str(path)})
    assert str(error.value) == message.format(path=path)


def test_config_command_masks_the_key(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.deepseek.com/v1")
    assert main(["config", "--model", "deepseek-chat"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["api_key"] == "sk-…cdef"
    assert "0123456789" not in json.dumps(shown)
    assert (shown["model"], shown["llm_mode"], shown["price_per_1m_tokens"]) == (
        "deepseek-chat", "tools", {"input": 0.27, "output": 1.1, "currency": "USD"},
    )
    assert shown["sources"]["endpoint"] == "env OPENAI_BASE_URL" and shown["sources"]["model"] == "flag"


def test_bad_setting_on_the_command_line_exits_2_with_one_line(capsys):
    assert main(["extract", "x.txt", "--llm-endpoint", "ftp://host"]) == 2
    assert capsys.readouterr().err == "error: endpoint must be an http(s) URL or 'local', got 'ftp://host' (flag)\n"
