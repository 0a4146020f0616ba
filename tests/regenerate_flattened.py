"""Regenerate tests/fixtures/flattened: the real reports' gold tables flattened the way crawlers
flatten them, with what gxllm reads from each (expected.json). Run it after a deliberate change
of the flattened-table reader, then read the diff of expected.json before committing:

    python tests/regenerate_flattened.py
"""

import json
import shutil
from pathlib import Path

from layouts import render_flattened, render_flattened_html
from pdfs import render_flattened_pdf

from gxllm.pipeline import extract_bytes

HERE = Path(__file__).parent / "fixtures"
GOLDEN_KEYS = ("report", "active_disclosure", "applications", "reviews_and_lawsuits", "status", "findings")


def variants(name: str, gold: dict):
    """(file name, bytes): every report one table per line; some on one line, as a page, as a PDF."""
    seed = sum(map(ord, name))
    yield "source.txt", render_flattened(gold, seed=seed).encode()
    if seed % 2:
        yield "one-line.txt", render_flattened(gold, seed=seed + 1, one_line=True).encode()
    if name in ("seed-001", "corpus-2024-huaian-city"):
        yield "source.html", render_flattened_html(gold, seed=seed)
    if name in ("seed-004", "corpus-2023-hongze-district"):
        yield "source.pdf", render_flattened_pdf(gold, seed=seed)


def expected(result: dict) -> dict:
    return {k: result[k] for k in GOLDEN_KEYS}


def main() -> None:
    out = HERE / "flattened"
    shutil.rmtree(out, ignore_errors=True)
    for folder in sorted((HERE / "reports").iterdir()):
        gold = json.loads((folder / "gold.json").read_text("utf-8"))
        for file, data in variants(folder.name, gold):
            stem, suffix = file.split(".")
            target = out / f"{folder.name}-{suffix if stem == 'source' else stem}"
            target.mkdir(parents=True)
            (target / f"source.{suffix}").write_bytes(data)
            shutil.copy(folder / "gold.json", target / "gold.json")
            result = extract_bytes(data, file)
            text = json.dumps(expected(result), ensure_ascii=False, indent=1) + "\n"
            (target / "expected.json").write_text(text, "utf-8")
            print(target.name, result["status"])


if __name__ == "__main__":
    main()
