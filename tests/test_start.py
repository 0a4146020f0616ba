"""Start-up: a command imports only what its input needs (the time itself is measured by
bench/start_bench.py, never asserted here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TEXT = FIXTURES / "reports" / "corpus-2024-huaian-city" / "source.txt"
HTML = FIXTURES / "flattened" / "seed-001-html" / "source.html"

# Runs the CLI as the console script does and prints the top-level packages it imported.
_RUN_AND_LIST_MODULES = """
import json, sys
from gxllm.cli import main
code = main(sys.argv[1:])
print(json.dumps({"exit": code, "modules": sorted({name.partition(".")[0] for name in sys.modules})}))
"""

LLM_STACK = {"pydantic", "pydantic_core", "openai", "instructor", "tenacity", "httpx", "jiter"}
HTML_STACK = {"bs4", "soupsieve", "lxml"}
OTHER_INPUTS = {"pypdfium2", "opencc", "charset_normalizer", "tomllib", "tqdm"}


def imported_by(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    command = [sys.executable, "-c", _RUN_AND_LIST_MODULES, *argv, "-o", str(tmp_path / "out.json")]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    shown = json.loads(done.stdout)
    return shown["exit"], set(shown["modules"])


def test_a_text_report_imports_no_html_llm_pdf_or_opencc_package(tmp_path):
    code, modules = imported_by(tmp_path, "extract", str(TEXT), "--llm", "never")
    assert code == 0
    assert modules & (LLM_STACK | HTML_STACK | OTHER_INPUTS) == set()
    assert "gxllm" in modules


@pytest.mark.parametrize("llm", ["never", "auto"])  # auto without a key or endpoint: nothing to call
def test_an_html_report_imports_lxml_only(tmp_path, llm):
    _, modules = imported_by(tmp_path, "extract", str(HTML), "--llm", llm)
    assert "lxml" in modules
    assert modules & (LLM_STACK | {"bs4", "soupsieve", "pypdfium2", "opencc"}) == set()
