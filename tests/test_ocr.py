"""Scanned reports read with the embedded OCR (the `ocr` extra): real-looking scans of both
templates, drawn by tests/pdfs.py and then printed and scanned by `render_scan` (200 dpi, grey,
skewed, noisy, JPEG q60, a red seal), plus a mixed PDF. Each OCR test reads its own scan: nothing
is cached between them. They are slow (a few seconds per page), so there are three scans here.

Without the extra (or without a CJK font to draw the reports) they are skipped with the reason;
in CI (CI=true), where .ci/run installs both, they fail instead, so that they always run there.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from layouts import sample_report, sample_report_2019

from gxllm.cli import main
from gxllm.document import LOW_CONFIDENCE
from gxllm.load import ocr as load_ocr
from gxllm.load.ocr import correct_digits, pages_to_read


def _cjk_font_renders() -> bool:
    """Whether PDFium draws the reports' Chinese text (it needs a system CJK font)."""
    import pdfs  # noqa: F401  registers the font
    import pypdfium2 as pdfium
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=(60, 60))
    c.setFont("STSong-Light", 40)
    c.drawString(10, 10, "国")
    c.save()
    pixels = pdfium.PdfDocument(buffer.getvalue())[0].render().to_pil().convert("L")
    return pixels.getextrema()[0] < 128


def _missing() -> str | None:
    if not load_ocr.available():
        return "the ocr extra is not installed: pip install -e '.[dev,ocr]'"
    if not _cjk_font_renders():
        return "no CJK system font for PDFium to draw the test reports: apt-get install fonts-wqy-microhei"
    return None


ROOT = Path(__file__).resolve().parent.parent
MISSING = _missing()
if MISSING and os.environ.get("CI"):
    raise RuntimeError(f"the OCR tests must run in CI, but {MISSING}")
needs_ocr = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture
def offline(monkeypatch):
    """No network at all: any connection or name lookup fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during OCR: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _tables(result: dict) -> dict:
    return {key: result[key] for key in ("active_disclosure", "applications", "reviews_and_lawsuits")}


def _gold_tables(report: dict) -> dict:
    return {key: report[key] for key in ("active_disclosure", "applications", "reviews_and_lawsuits")}


def _extract(tmp_path, capsys, pdf: bytes, *args: str) -> tuple[int, dict]:
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdf)
    code = main(["extract", str(path), "--llm", "never", *args])
    captured = capsys.readouterr()
    assert captured.err == ""
    return code, json.loads(captured.out)


@needs_ocr
def test_a_scanned_2021_report_is_read_exactly_offline(tmp_path, capsys, offline):
    from pdfs import render_scan

    report = sample_report(7)
    code, result = _extract(tmp_path, capsys, render_scan(report))
    assert (code, result["status"], result["findings"]) == (0, "ok", [])
    assert _tables(result) == _gold_tables(report)
    assert result["report"] == report["report"]
    cells = result["provenance"]["applications"]["cells"]
    assert {cell["source"] for cell in cells.values()} == {"ocr"}
    assert all(0 < cell["confidence"] <= 1 for cell in cells.values())
    # an ok table carries pictures only of the cells the OCR was unsure of
    assert all(("crop" in cell) == (cell["confidence"] < LOW_CONFIDENCE or "corrected" in cell) for cell in cells.values())


@needs_ocr
def test_a_scanned_2019_report_keeps_a_printed_error_and_marks_a_doubtful_misread(tmp_path, capsys, monkeypatch):
    """The agency's own wrong total stays as printed and is an identity finding; a number the OCR
    read wrongly with low confidence breaks its identity, and is the cell marked for review."""
    from pdfs import render_scan

    report = sample_report_2019(3)
    printed = copy.deepcopy(report)
    printed["applications"]["new_received"]["total"] += 1  # printed wrong by the agency
    review = printed["reviews_and_lawsuits"]["administrative_review"]
    review["total"] += 777 - review["upheld"]
    review["upheld"] = 777
    recognise = load_ocr.Scanner.recognise

    def misreading(self, image):
        glyphs = recognise(self, image)
        # the OCR reads 777 as 717, and says it is unsure
        return [g if g.text != "777" else type(g)("717", g.x0, g.top, g.x1, g.bottom, 0.41) for g in glyphs]

    monkeypatch.setattr(load_ocr.Scanner, "recognise", misreading)
    code, result = _extract(tmp_path, capsys, render_scan(printed))
    assert (code, result["status"]) == (1, "review")
    expected = _gold_tables(printed)
    expected["reviews_and_lawsuits"]["administrative_review"]["upheld"] = 717
    assert _tables(result) == expected
    kinds = [(f["kind"], f.get("identity")) for f in result["findings"]]
    assert kinds == [("identity", "T3-row"), ("identity", "T3-flow"), ("identity", "T4-total"), ("ocr_low_confidence", None)]
    doubt = result["findings"][-1]
    assert doubt["cells"] == ["reviews_and_lawsuits.administrative_review.upheld"]
    assert doubt["confidence"] == {"reviews_and_lawsuits.administrative_review.upheld": 0.41}
    assert doubt["message"] == (
        "表四: 1 cell(s) the OCR read with doubt or not at all, and no holding identity confirms: "
        "administrative_review.upheld=717 (0.41)"
    )
    cell = result["provenance"]["reviews_and_lawsuits"]["cells"]["administrative_review.upheld"]
    assert (cell["source"], cell["confidence"]) == ("ocr", 0.41)
    assert cell["crop"].startswith("data:image/png;base64,")
    # the review page shows the scan where each conflicting OCR cell was read
    results = tmp_path / "result.json"
    results.write_text(json.dumps(result), encoding="utf-8")
    assert main(["review", str(results), "-o", str(tmp_path / "review.html")]) == 0
    page = (tmp_path / "review.html").read_text(encoding="utf-8")
    assert f'<img class="scan" src="{cell["crop"]}"' in page
    # ... and of the failing 表四 identity, the doubtful cell is the one suspect
    assert main(["review", str(results), "-o", str(tmp_path / "review.csv")]) == 0
    with open(tmp_path / "review.csv", encoding="utf-8-sig", newline="") as handle:
        cells = [row["cell"] for row in csv.DictReader(handle)]
    assert [c for c in cells if c.startswith("reviews_and_lawsuits.")] == ["reviews_and_lawsuits.administrative_review.upheld"]


@needs_ocr
def test_a_batch_reads_a_mixed_pdf_its_text_page_and_ocrs_the_scanned_ones(tmp_path, capsys):
    from pdfs import render_scan

    report = sample_report(11)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mixed.pdf").write_bytes(render_scan(report, text_pages=(0,)))
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "run"), "--llm", "never", "--workers", "1"]) == 0
    assert "ocr_pages=2" in capsys.readouterr().err  # on the progress bar
    (result,) = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").open(encoding="utf-8")]
    assert (result["status"], result["findings"], result["source"]["ocr_pages"]) == ("ok", [], 2)
    assert _tables(result) == _gold_tables(report)
    for table in result["provenance"].values():
        for cell in table["cells"].values():
            assert (cell.get("source") == "ocr") == (cell["page"] > 1)


def test_dry_run_counts_the_pages_to_ocr_without_reading_them(tmp_path, capsys):
    from pdfs import render_pdf, render_scanned_pdf

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "scan.pdf").write_bytes(render_scanned_pdf())
    (tmp_path / "in" / "text.pdf").write_bytes(render_pdf(sample_report(1)))
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "run"), "--dry-run", "--llm", "never"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["inputs"], plan["reports_needing_ocr"], plan["pages_needing_ocr"]) == (2, 1, 2)


def test_text_and_text_layer_pdfs_never_import_the_ocr():
    script = (
        "import sys; sys.path.insert(0, 'tests'); from layouts import sample_report; from pdfs import render_pdf; "
        "from gxllm.pipeline import extract_bytes; "
        "assert extract_bytes(render_pdf(sample_report(2)), 'r.pdf')['status'] == 'ok'; "
        "print(sorted(m for m in ('onnxruntime', 'cv2', 'numpy', 'rapidocr', 'gxllm.load.ocr') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out == "[]\n"


def test_letters_read_for_digits_are_corrected_and_marked():
    assert correct_digits("1O") == ("10", True)
    assert correct_digits("l2") == ("12", True)
    assert correct_digits("O") == ("0", True)
    assert correct_digits("105") == ("105", False)
    assert correct_digits("3.5") == ("3.5", False)
    assert correct_digits("PDF") == ("PDF", False)
    assert correct_digits("行政许可") == ("行政许可", False)


def test_only_the_table_pages_are_recognised():
    # None: a text page; True/False: a scanned page with or without a ruled grid
    assert pages_to_read([False, False, True, True, False, False], [None, None, 0.5, 0.1, None, None]) == {0, 2, 3}
    assert pages_to_read([False, True, False], [None, 0.05, None]) == {0, 1}  # the heading may be on page 1
    assert pages_to_read([None, False, True], [None, None, 0.1]) == {1, 2}
    assert pages_to_read([False, False], [None, None]) == {0, 1}  # no grid anywhere: a borderless table
    assert pages_to_read([None, None], [None, None]) == set()
