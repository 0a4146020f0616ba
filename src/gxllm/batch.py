"""`gxllm batch`: many reports in, one dataset out, resumable, within a hard LLM budget.

The CPU-bound rule path runs in worker processes; reports the rules leave to the LLM go to a
bounded pool of threads, each call reserved against the budget first. The main process is the
only writer of the journal (journal.py): each finished report is one transaction, so a killed
run resumes where it stopped and never pays twice (LLM answers are also cached on disk). The
outputs (results.jsonl, cells.csv, summary.json) are rewritten from the journal in source order
at the end, so a resumed run ends with the same files as an uninterrupted one. Inputs with the same
content are one report: which input keeps it is decided from the input list before any work
(the first in source order), never by which worker finished first.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from . import __version__
from . import template as T
from .errors import GxllmError, InputError
from .findings import INFORMATIONAL, Finding
from .journal import CELL_FIELDS, Entry, Journal, carry_of, entry, report_id
from .llm_request import PROMPT_VERSION
from .results_io import atomic_file, write_atomic
from .validate import check_cross_year

PIPELINE = f"gxllm {__version__}, prompt {PROMPT_VERSION}"
DOWNLOADS = "downloads"


@dataclass
class BatchOptions:
    out: Path
    llm: str = "auto"
    workers: int | None = None
    concurrency: int = 4
    max_cost: float | None = None
    max_tokens: int | None = None
    encoding: str | None = None
    use_cache: bool = True


@dataclass
class Work:
    source: str  # as the user named it (path or URL)
    path: str | None  # the local file to read (a fetched copy for a URL)
    sha256: str | None = None
    error: InputError | None = None
    same_as: str | None = None  # the first input in source order with the same content, if not this one


@dataclass
class Progress:
    """What the progress bar shows; `update` is called once the work is planned, then after
    every finished report."""

    done: int = 0  # finished in this run
    already_done: int = 0
    duplicates: int = 0
    review: int = 0
    failed: int = 0
    llm_calls: int = 0
    cost: float = 0.0
    ocr_pages: int = 0  # scanned pages recognised by the OCR
    update: Callable[["Progress"], None] = field(default=lambda p: None, repr=False)


# --- the rule path, in worker processes ---------------------------------------------------------


def _extract_file(job: tuple[str, str, str | None, str, str | None]) -> tuple[str, Entry]:
    """(source, journal entry) of one file with the rules only; an unreadable input gives its
    failed record. The entry is made here, in the worker, to keep the writer's work small."""
    source, path, sha256, llm, encoding = job
    from .extract import extract_bytes, unreadable_input
    from .load import read_input

    try:
        data, _ = read_input(path)
        result = extract_bytes(data, source, encoding=encoding, llm=llm)
    except InputError as error:
        result = unreadable_input(source, str(error), error.kind)
    result["report_id"] = report_id(source, sha256)
    return source, entry(result)


# --- the whole batch ----------------------------------------------------------------------------


def prepare(specs: list[str], out: Path, journal: Journal | None, *, fetch_urls: bool) -> list[Work]:
    """The inputs, each with the file to read and its content hash; URLs fetched once into the run."""
    from .inputs import collect, fetch

    work = []
    for item in collect(specs):
        path: str | None = item.source
        error = None
        if item.is_url:
            path = journal.fetched(item.source) if journal else None
            if path is None and fetch_urls:
                try:
                    path = str(fetch(item.source, out / DOWNLOADS))
                    if journal:
                        journal.record_fetch(item.source, path)
                except InputError as e:
                    error = e
        sha = _sha256(path) if path and not error else None
        work.append(Work(item.source, path, sha, error))
    _mark_duplicates(work)
    return work


def _mark_duplicates(work: list[Work]) -> None:
    """Every input whose content an earlier input in the list already has is a duplicate of it."""
    first: dict[str, str] = {}
    for item in work:
        if item.sha256 is not None:
            kept = first.setdefault(item.sha256, item.source)
            item.same_as = kept if kept != item.source else None


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None  # the worker reports why, in one line


def run(work: list[Work], options: BatchOptions, journal: Journal, reader, progress: Progress) -> dict:
    """Process what the journal does not hold yet; returns the counts of this run."""
    started = time.monotonic()
    kept = [w for w in work if w.same_as is None]
    journal.record_duplicates([w.source for w in kept], [(w.source, w.same_as, w.sha256) for w in work if w.same_as])
    pending = [w for w in kept if not journal.done(w.source, w.sha256, PIPELINE)]
    progress.already_done, progress.duplicates = len(kept) - len(pending), len(work) - len(kept)
    progress.update(progress)
    finished: queue.Queue[tuple[str, Entry]] = queue.Queue()

    def record(source: str, done: Entry) -> None:
        item = by_source[source]
        journal.record(source, item.sha256, PIPELINE, done)
        progress.done += 1
        progress.review += done.status == "review"
        progress.failed += done.status == "failed"
        progress.llm_calls += done.llm_calls
        progress.cost += done.cost
        progress.ocr_pages += done.ocr_pages
        progress.update(progress)

    def drain(block: bool = False) -> None:
        while True:
            try:
                record(*finished.get(block=block, timeout=0.1 if block else None))
            except queue.Empty:
                return

    by_source = {w.source: w for w in pending}
    for item in pending:
        if item.error is not None:
            from .extract import unreadable_input

            result = unreadable_input(item.source, str(item.error), item.error.kind)
            result["report_id"] = report_id(item.source, None)
            finished.put((item.source, entry(result)))
    jobs = [(w.source, w.path, w.sha256, options.llm, options.encoding) for w in pending if w.error is None]
    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as llm_pool:
        llm_jobs = []
        for source, done in _rules(jobs, options.workers):
            if reader is not None and done.needs_llm:
                llm_jobs.append(llm_pool.submit(_with_llm, by_source[source], options, reader, finished))
            else:
                finished.put((source, done))
            drain()
        while any(not job.done() for job in llm_jobs):
            drain(block=True)
        for job in llm_jobs:
            job.result()  # an unexpected error in a thread is raised here, not lost
    drain()
    journal.prune_duplicates()
    return {"inputs": len(work), "processed": len(pending), "skipped": progress.already_done,
            "seconds": time.monotonic() - started}  # fmt: skip


def _rules(jobs: list[tuple], workers: int | None) -> Iterable[tuple[str, Entry]]:
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 4:
        yield from map(_extract_file, jobs)
        return
    with get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(_extract_file, jobs, chunksize=16)


def _with_llm(item: Work, options: BatchOptions, reader, finished: queue.Queue) -> None:
    from .extract import extract_bytes
    from .load import read_input

    data, _ = read_input(item.path)
    result = extract_bytes(data, item.source, encoding=options.encoding, llm=options.llm, reader=reader)
    result["report_id"] = report_id(item.source, item.sha256)
    finished.put((item.source, entry(result)))


# --- across reports -----------------------------------------------------------------------------


def cross_year(results: Iterable[dict]) -> dict[str, list[Finding]]:
    """Findings per report id where a cell the template carries over (二、上年结转 of year N,
    四、结转下年度继续办理 of year N−1) differs for the same agency, on both reports."""
    return check_cross_year(carry for carry in map(carry_of, results) if carry)


def refresh_cross_year(results: list[dict]) -> tuple[list[dict], int]:
    """Re-run the cross-year check over all results, updating their findings and status in
    place; returns the results that changed and the number of mismatching cells."""
    found = cross_year(results)
    changed = [result for result in results if _set_cross_year(result, found.get(result["report_id"], []))]
    return changed, _mismatches(found)


def _mismatches(found: dict[str, list[Finding]]) -> int:
    return sum(map(len, found.values())) // 2  # each mismatching cell is named on both reports


def _set_cross_year(result: dict, findings: list[Finding]) -> bool:
    """Give a result these cross-year findings (and the status they make); False if it had them."""
    old = [f for f in result["findings"] if f["kind"] == "cross_year"]
    new = [f.to_dict() for f in findings]
    if old == new:
        return False
    result["findings"] = [f for f in result["findings"] if f["kind"] != "cross_year"] + new
    if result["status"] != "failed":
        needs = any(f["kind"] not in INFORMATIONAL for f in result["findings"])
        result["status"] = "review" if needs else "ok"
    return True


def apply_cross_year(journal: Journal) -> int:
    """The cross-year check over everything the journal holds, from its tables (agency, year and
    结转 cells), stored; only the reports whose findings change are read. Returns the mismatches."""
    found = check_cross_year(journal.carries())
    touched = sorted(journal.ids_with("cross_year") | set(found))
    results = (journal.result(rid) for rid in touched)
    journal.update_all(result for result in results if _set_cross_year(result, found.get(result["report_id"], [])))
    return _mismatches(found)


# --- outputs ------------------------------------------------------------------------------------


def write_outputs(out: Path, journal: Journal, summary: dict) -> None:
    """results.jsonl, cells.csv and summary.json, from the journal in source order."""
    with atomic_file(out / "results.jsonl") as handle:
        handle.writelines(journal.result_lines())
    with atomic_file(out / "cells.csv") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CELL_FIELDS)
        writer.writerows(journal.cell_rows())
    write_atomic(out / "summary.json", json.dumps(summary, ensure_ascii=False, indent=2) + "\n")


def status_counts(results: list[dict]) -> dict[str, int]:
    return dict(sorted(Counter(r["status"] for r in results).items()))


def summarise(results: Iterable[dict], duplicates: list[dict], counts: dict, options: BatchOptions, currency: str,
              mismatches: int) -> dict:  # fmt: skip
    """summary.json, in one pass over the results (the journal's `each_result`: none kept)."""
    statuses: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    costs: list[float] = []  # summed at the end, as before, to the same last digit
    refused = []
    for r in results:
        statuses[r["status"]] += 1
        for c in (r.get("llm") or {}).get("calls", []):
            totals["llm_calls"] += not c.get("cached") and not c.get("budget")
            totals["llm_cached"] += bool(c.get("cached"))
            totals["input_tokens"] += c.get("input_tokens", 0)
            totals["output_tokens"] += c.get("output_tokens", 0)
            costs.append(c.get("cost", 0.0))
        if any(f["kind"] == "budget" for f in r["findings"]):
            refused.append(r["source"]["name"])
    seconds = counts["seconds"]
    return {
        "inputs": counts["inputs"],
        "reports": statuses.total(),
        "duplicates": duplicates,
        "status": dict(sorted(statuses.items())),
        "processed_this_run": counts["processed"],
        "already_done": counts["skipped"],
        "llm_calls": totals["llm_calls"],
        "llm_cached": totals["llm_cached"],
        "input_tokens": totals["input_tokens"],
        "output_tokens": totals["output_tokens"],
        "cost": round(sum(costs), 6),
        "currency": currency,
        "max_cost": options.max_cost,
        "max_tokens": options.max_tokens,
        "left_without_llm_for_budget": sorted(refused),
        "cross_year_mismatches": mismatches,
        "seconds": round(seconds, 3),
        "reports_per_second": round(counts["processed"] / seconds, 1) if seconds and counts["processed"] else None,
        "pipeline": PIPELINE,
    }


def refresh_summary(out: Path, results: list[dict]) -> dict:
    """summary.json after the results changed without a run (`gxllm apply`): the run's own
    figures stay, the status counts, cross-year mismatches and reviewed cells are recounted."""
    path = out / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"reports": len(results)}
    summary["status"] = status_counts(results)
    summary["cross_year_mismatches"] = sum(f["kind"] == "cross_year" for r in results for f in r["findings"]) // 2
    summary["human_decisions"] = sum(
        c.get("source") == "human"
        for r in results
        for table in (r.get("provenance") or {}).values()
        for c in table.get("cells", {}).values()
    )
    return summary


def open_journal(out: Path) -> Journal:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GxllmError(f"{out}: cannot create the run folder ({error.strerror or error})") from None
    return Journal(out / "gxllm.sqlite")


def dry_run(specs: list[str], options: BatchOptions, settings) -> dict:
    """What a run would do: inputs, what is already done, which reports and tables would need the
    LLM, and the worst-case tokens and cost of asking. Nothing is fetched, written or paid."""
    from .extract import extract_bytes
    from .llm_client import LLMAnswer, ResponseCache, TableReader
    from .load import read_input
    from .load_pdf import image_only_pages

    path = options.out / "gxllm.sqlite"
    journal = Journal(path) if path.exists() else None
    try:
        work = prepare(specs, options.out, journal, fetch_urls=False)
        kept = [w for w in work if w.same_as is None]
        pending = [w for w in kept if not (journal and journal.done(w.source, w.sha256, PIPELINE))]
    finally:
        if journal:
            journal.close()
    estimator = TableReader(settings, cache=ResponseCache(settings.cache_dir) if options.use_cache else None)
    asked: list[tuple[int, int]] = []

    def estimate(shape: T.Shape, text: str) -> LLMAnswer:
        asked.append(estimator.worst_case(shape, text))
        return LLMAnswer(shape.table, estimator.model, estimator.mode, error="dry run")

    reports = unreadable = scans = scanned_pages = 0
    for item in pending:
        if item.path is None or item.error:
            continue
        before = len(asked)
        try:
            data, _ = read_input(item.path)
            if pages := image_only_pages(data):
                # Not OCRed here (seconds a page): what its tables need is known only after.
                scans, scanned_pages = scans + 1, scanned_pages + pages
                continue
            extract_bytes(data, item.source, encoding=options.encoding, llm=options.llm, reader=estimate)
        except InputError:
            unreadable += 1
        reports += len(asked) > before
    input_tokens, output_tokens = sum(a for a, _ in asked), sum(b for _, b in asked)
    return {
        "inputs": len(work),
        "duplicates": len(work) - len(kept),
        "already_done": len(kept) - len(pending),
        "to_process": len(pending),
        "urls_not_fetched_yet": sum(1 for w in pending if w.path is None and not w.error),
        "unreadable": unreadable + sum(1 for w in pending if w.error),
        "reports_needing_llm": reports,
        "reports_needing_ocr": scans,
        "pages_needing_ocr": scanned_pages,
        "llm_calls": sum(1 for a in asked if a != (0, 0)),
        "llm_calls_cached": sum(1 for a in asked if a == (0, 0)),
        "worst_case_input_tokens": input_tokens,
        "worst_case_output_tokens": output_tokens,
        "worst_case_cost": round(settings.cost(input_tokens, output_tokens), 6),
        "currency": settings.prices[2],
        "model": settings.effective_model,
        "llm_configured": settings.configured,
        "spent": 0,
    }
