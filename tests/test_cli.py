"""Drive the CLI as a user does: exit codes, exact error lines, output formats."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gxllm.cli import build_parser, main

REPORTS = Path(__file__).parent / "fixtures" / "reports"
OK = REPORTS / "corpus-2024-huaian-city" / "source.txt"
REVIEW = REPORTS / "corpus-2023-hongze-district" / "source.txt"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_single_report_json_and_exit_0(capsys):
    code, out, err = run(capsys, "extract", OK)
    result = json.loads(out)
    assert (code, err, result["status"]) == (0, "", "ok")
    assert result["applications"]["new_received"]["total"] == 3119


def test_review_report_exits_1(capsys):
    code, out, _ = run(capsys, "extract", REVIEW)
    assert code == 1 and json.loads(out)["status"] == "review"


def test_several_reports_jsonl_to_file(capsys, tmp_path):
    target = tmp_path / "out.jsonl"
    code, out, _ = run(capsys, "extract", OK, REVIEW, "--format", "jsonl", "-o", target)
    lines = target.read_text("utf-8").splitlines()
    assert (code, out) == (1, "")
    assert [json.loads(line)["status"] for line in lines] == ["ok", "review"]


def test_csv_long_format(capsys):
    code, out, _ = run(capsys, "extract", OK, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert len(rows) == 10 + 25 * 7 + 15
    assert rows[0] == {
        "file": str(OK), "table": "active_disclosure", "row": "regulations", "column": "issued",
        "label": "表二 规章 / 本年制发件数", "value": "1", "status": "ok",
    }
    fee = next(r for r in rows if r["row"] == "administrative_fees")
    assert fee["value"] == "96171.6"


def test_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(OK.read_bytes())))
    code, out, _ = run(capsys, "extract", "-")
    assert code == 0 and json.loads(out)["source"]["name"] == "<stdin>"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "error: {path}: empty input"),
        (b"%PDF-1.7\n...", "error: {path}: damaged PDF, cannot be opened; re-download it or re-save it from a PDF viewer"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "error: {path}: binary file, not a text, HTML, PDF or Word report"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "error: {path}: legacy Word .doc (or an encrypted Office file) "
         "cannot be read; convert it to .docx first (libreoffice --headless --convert-to docx report.doc)"),
        ("网站首页 | 登录 | 注册\n欢迎访问\n".encode(), "error: {path}: no 表二, 表三 or 表四 found; is this a "
         "政府信息公开工作年度报告? (if the text looks garbled, try --encoding=gbk)"),
    ],
    ids=["empty", "pdf", "binary", "doc", "no-table"],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    code, out, err = run(capsys, "extract", path)
    assert (code, out, err) == (2, "", message.format(path=path) + "\n")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_output_to_a_pipe_is_written_in_place_not_replaced(capsys, tmp_path):
    # As -o /dev/null: the whole JSON is written atomically only into a regular file.
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.append(pipe.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    code, _, _ = run(capsys, "extract", OK, "-o", pipe)
    reader.join(timeout=30)
    assert code == 0 and stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert json.loads(read[0])["status"] == "ok"


def test_missing_file_and_unknown_encoding(capsys, tmp_path):
    assert run(capsys, "extract", tmp_path / "nope.txt")[::2] == (2, f"error: {tmp_path / 'nope.txt'}: no such file\n")
    code, _, err = run(capsys, "extract", OK, "--encoding", "klingon")
    assert (code, err) == (2, "error: unknown encoding 'klingon'; try gbk, gb18030, big5 or utf-8\n")


def test_one_bad_file_does_not_stop_the_rest(capsys, tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    code, out, err = run(capsys, "extract", bad, OK, "--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 2
    assert [r["status"] for r in records] == ["failed", "ok"]
    assert records[0]["findings"][0] == {"kind": "unreadable_input", "cells": [], "message": f"{bad}: empty input"}
    assert err == f"error: {bad}: empty input\n"


def test_quoted_glob_is_expanded(capsys):
    code, out, _ = run(capsys, "extract", str(REPORTS / "corpus-*" / "source.txt"), "--format", "jsonl")
    assert code == 1 and len(out.splitlines()) == 3


def test_every_command_has_help_with_an_example():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert commands
    for name, sub in commands.items():
        assert "Example" in sub.format_help(), name
        assert f"gxllm {name}" in sub.format_help(), name


def test_llm_needed_but_not_configured_is_review_not_a_crash(capsys):
    code, out, err = run(capsys, "extract", OK, "--llm", "always")
    result = json.loads(out)
    assert (code, err, result["status"]) == (1, "", "review")
    assert [f["message"] for f in result["findings"] if f["kind"] == "llm_not_configured"] == [
        f"{number}: --llm always reads it with the LLM too, but no LLM is configured; "
        "set OPENAI_API_KEY (and OPENAI_BASE_URL), or use --llm-endpoint local"
        for number in ("表二", "表三", "表四")
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(OK), "--llm", "sometimes"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err


def test_version_and_console_script_start_without_llm_packages():
    code = (
        "import sys, gxllm.cli, gxllm.pipeline; "
        "print(sorted(m for m in ('openai', 'instructor') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    version = subprocess.run([sys.executable, "-m", "gxllm.cli", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("gxllm ")


def test_local_model_status_and_a_failed_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GXLLM_MODELS_DIR", str(tmp_path / "models"))
    code, out, err = run(capsys, "local-model", "status")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"models folder: {tmp_path / 'models'}"
    assert lines[2].startswith("qwen2.5-coder-1.5b (default): not installed; Qwen2.5 Coder 1.5B Instruct")
    code, out, err = run(capsys, "local-model", "install", "--model", "gpt-9")
    assert (code, out) == (2, "")
    assert err == "error: unknown local model 'gpt-9'; choose one of: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b\n"
