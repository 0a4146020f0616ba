"""`gxllm batch` as a library call: many reports in, one dataset out, resumable, within a hard
LLM budget.

    from gxllm.batch import BatchOptions, run_batch
    summary = run_batch(["reports/"], BatchOptions("run1", llm="never"))
    summary.status      # reports by status, e.g. {"ok": 118, "review": 2}; run1/ holds the dataset

The CPU-bound rule path runs in worker processes; reports the rules leave to the LLM go to a
bounded pool of threads, each call reserved against the budget first. Each finished report is
one transaction of the journal (journal.py), stored by the worker that read it (by the main
process after the LLM), so a killed run resumes where it stopped and never pays twice (LLM
answers are also cached on disk). The outputs (results.jsonl, cells.csv, summary.json) are
rewritten from the journal in source order at the end, so a resumed run ends with the same
files as an uninterrupted one. Inputs with the same
content are one report: which input keeps it is decided from the input list before any work
(the first in source order), never by which worker finished first.

`run_batch` runs a batch, `plan_batch` says what one would do (the CLI's --dry-run), and
`apply_decisions` writes a reviewer's decisions back into a run folder or results file.
"""

from __future__ import annotations

import hashlib
import os
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, fields
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from . import template as T
from .errors import GxllmError, InputError
from .findings import Finding
from .llm.request import PROMPT_VERSION
from .result_json import finding_json, from_json
from .run.journal import Entry, Journal, carry_of, entry, report_id
from .run.results_io import json_text, write_outputs
from .tables.validate import check_cross_year

if TYPE_CHECKING:
    from .review.apply import Decision
    from .settings import LLMSettings

PIPELINE = f"gxllm {__version__}, prompt {PROMPT_VERSION}"
DOWNLOADS = "downloads"


@dataclass
class BatchOptions:
    """How a batch runs; the `gxllm batch` flags of the same names. `settings` (LLMSettings) say
    how to reach the LLM; `llm` whether to ask it (never: rules only, whatever the settings)."""

    out: Path  # the run folder: created, and reused to resume
    llm: str = "auto"  # auto, always or never
    workers: int | None = None  # processes for the rule path; None: one per core
    concurrency: int = 4  # LLM calls at once
    max_cost: float | None = None  # in the price table's currency, counting what the run folder spent before
    max_tokens: int | None = None
    encoding: str | None = None  # decode text inputs with this encoding
    use_cache: bool = True  # False: ask the LLM again even for cached answers

    def __post_init__(self) -> None:
        self.out = Path(self.out)


@dataclass
class Work:
    source: str  # as the user named it (path or URL)
    path: str | None  # the local file to read (a fetched copy for a URL)
    sha256: str | None = None
    error: InputError | None = None
    same_as: str | None = None  # the first input in source order with the same content, if not this one


@dataclass
class Progress:
    """What the progress bar shows; `on_progress` of `run_batch` sees it once the work is
    planned, then after every finished report."""

    inputs: int = 0  # every input, duplicates included
    done: int = 0  # finished in this run
    already_done: int = 0
    duplicates: int = 0
    review: int = 0
    failed: int = 0
    llm_calls: int = 0
    cost: float = 0.0
    ocr_pages: int = 0  # scanned pages recognised by the OCR


# --- the rule path, in worker processes ---------------------------------------------------------

_worker_journal: Journal | None = None  # a worker process's own connection to the run's journal


def _open_worker_journal(path: Path, lock) -> None:
    """Pool initializer: each worker stores what it finished itself, so that the journal's
    inserts (a row per cell) run on every core instead of queueing in the main process. The
    workers take turns on the journal through `lock`: one waiting goes on the moment the other
    commits (SQLite's own wait sleeps 1, 2, 5… ms), and each copies the WAL back into the
    database after its commits, mostly out of turn (SQLite's automatic checkpoint runs in turn,
    inside COMMIT: `Journal.transaction`)."""
    global _worker_journal
    _worker_journal = Journal(path, lock=lock)


@dataclass(frozen=True)
class Stored:
    """A report a worker extracted and stored: what the progress bar counts of it."""

    status: str
    ocr_pages: int


def _extract_file(job: tuple[str, str, str | None, str, str | None]) -> tuple[str, Entry | Stored]:
    """(source, journal entry) of one file with the rules only; an unreadable input gives its
    failed record. The entry is made here, in the worker, to keep the main process's work small;
    for a report the rules leave to the LLM it carries the rule reading, for `_with_llm` to
    continue. A worker with its own journal stores every other report and sends back `Stored`."""
    source, path, sha256, llm, encoding = job
    from .load import load, read_input
    from .pipeline import complete, read_rules, unreadable_result

    reading = None
    try:
        data, _ = read_input(path)
        reading = read_rules(load(data, source, encoding))
        result = complete(reading, llm=llm)
    except InputError as error:
        result = unreadable_result(source, str(error), error.kind)
    result.report_id = report_id(source, sha256)
    done = entry(result, reading if reading is not None and reading.asks_llm(llm) else None)
    if _worker_journal is None or done.needs_llm:
        return source, done
    _worker_journal.record(source, sha256, PIPELINE, done)
    return source, Stored(done.status, done.ocr_pages)


# --- the whole batch ----------------------------------------------------------------------------


@dataclass
class Summary:
    """What a batch run did: summary.json (`to_json`), and `out`, the run folder it wrote
    (results.jsonl, cells.csv, summary.json, gxllm.sqlite)."""

    out: Path
    inputs: int
    reports: int
    duplicates: list[dict[str, str]]  # {"source", "same_as"}: an input with the content of an earlier one
    status: dict[str, int]  # reports by status, in name order
    processed_this_run: int
    already_done: int
    llm_calls: int  # made (not cached, not refused)
    llm_cached: int
    input_tokens: int
    output_tokens: int
    cost: float
    currency: str
    max_cost: float | None
    max_tokens: int | None
    left_without_llm_for_budget: list[str]  # source names
    cross_year_mismatches: int
    seconds: float
    reports_per_second: float | None
    pipeline: str = PIPELINE

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "out"}

    def to_json(self) -> str:
        """summary.json, byte for byte."""
        return json_text(self.to_dict())


def run_batch(
    inputs: Iterable[str],
    options: BatchOptions,
    settings: LLMSettings | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Summary:
    """Extract every report of `inputs` (files, folders, globs, http(s) URLs, list files) into
    the run folder `options.out`, as `gxllm batch` does; rerun, it resumes. `settings`: how to
    reach the LLM (default `load_settings()`: the environment and config file). `on_progress`
    is called with a `Progress` once the work is planned and after every finished report.

    Raises GxllmError before any report is read: the run folder cannot be made, an input names
    no report (InputError), the budget cannot be kept (BudgetError).

        >>> import tempfile, gxllm
        >>> options = gxllm.BatchOptions(tempfile.mkdtemp(), llm="never", workers=1)
        >>> summary = gxllm.run_batch(["tests/fixtures/reports/seed-00*/source.txt"], options)
        >>> summary.reports, summary.status
        (5, {'ok': 5})
        >>> sorted(path.name for path in summary.out.iterdir())
        ['cells.csv', 'gxllm.sqlite', 'results.jsonl', 'summary.json']
    """
    if settings is None:
        from .settings import load_settings

        settings = load_settings()
    journal = _open_journal(options.out)
    try:
        work = prepare(list(inputs), options.out, journal, fetch_urls=True)
        with ExitStack() as stack:
            reader = _budgeted_reader(stack, options, settings, journal)
            counts = run(work, options, journal, reader, on_progress)
        mismatches = apply_cross_year(journal)
        summary = summarise(journal, counts, options, settings.prices[2], mismatches)
        write_outputs(options.out, journal, summary.to_json())
    finally:
        journal.close()
    return summary


def _budgeted_reader(stack: ExitStack, options: BatchOptions, settings: LLMSettings, journal: Journal):
    """The LLM reader of the run, within the budget less what the run folder spent before (every
    call's cost is journaled as it returns); None when the LLM is off or not configured."""
    if options.llm == "never" or not settings.configured:
        return None
    from .llm.budget import Budget, BudgetedReader
    from .llm.client import open_reader

    cost, tokens = journal.spent()
    budget = Budget.for_settings(settings, options.max_cost, options.max_tokens, spent_cost=cost, spent_tokens=tokens)
    table_reader = stack.enter_context(open_reader(settings, use_cache=options.use_cache))
    if table_reader is None:  # settings.llm is never
        return None
    return BudgetedReader(table_reader, budget, on_call=lambda a: journal.add_spend(a.cost, a.input_tokens + a.output_tokens))


def prepare(specs: list[str], out: Path, journal: Journal | None, *, fetch_urls: bool) -> list[Work]:
    """The inputs, each with the file to read and its content hash; URLs fetched once into the run."""
    from .run.inputs import collect, fetch

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


def run(work: list[Work], options: BatchOptions, journal: Journal, reader,
        on_progress: Callable[[Progress], None] | None = None) -> dict:  # fmt: skip
    """Process what the journal does not hold yet; returns the counts of this run."""
    started = time.monotonic()
    progress = Progress(inputs=len(work))
    show = on_progress or (lambda p: None)
    kept = [w for w in work if w.same_as is None]
    journal.record_duplicates([w.source for w in kept], [(w.source, w.same_as, w.sha256) for w in work if w.same_as])
    pending = [w for w in kept if not journal.done(w.source, w.sha256, PIPELINE)]
    progress.already_done, progress.duplicates = len(kept) - len(pending), len(work) - len(kept)
    show(progress)
    finished: queue.Queue[tuple[str, Entry | Stored]] = queue.Queue()

    def record(source: str, done: Entry | Stored) -> None:
        if isinstance(done, Entry):
            journal.record(source, by_source[source].sha256, PIPELINE, done)
            progress.llm_calls += done.llm_calls
            progress.cost += done.cost
        progress.done += 1
        progress.review += done.status == "review"
        progress.failed += done.status == "failed"
        progress.ocr_pages += done.ocr_pages
        show(progress)

    def drain(block: bool = False) -> None:
        while True:
            try:
                record(*finished.get(block=block, timeout=0.1 if block else None))
            except queue.Empty:
                return

    by_source = {w.source: w for w in pending}
    for item in pending:
        if item.error is not None:
            from .pipeline import unreadable_input

            result = unreadable_input(item.source, str(item.error), item.error.kind)
            result["report_id"] = report_id(item.source, None)
            finished.put((item.source, entry(result)))
    jobs = [(w.source, w.path, w.sha256, options.llm, options.encoding) for w in pending if w.error is None]
    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as llm_pool:
        llm_jobs = []
        for source, done in _rules(jobs, options.workers, journal.path):
            if reader is not None and isinstance(done, Entry) and done.needs_llm:
                llm_jobs.append(llm_pool.submit(_with_llm, by_source[source], done, options, reader, finished))
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


def _rules(jobs: list[tuple], workers: int | None, journal: Path) -> Iterable[tuple[str, Entry | Stored]]:
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 4:
        yield from map(_extract_file, jobs)
        return
    context = get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(workers, initializer=_open_worker_journal, initargs=(journal, context.RLock())) as pool:
        yield from pool.imap_unordered(_extract_file, jobs, chunksize=16)


def _with_llm(item: Work, done: Entry, options: BatchOptions, reader, finished: queue.Queue) -> None:
    """The LLM step of a report, continued from the worker's rule reading."""
    from .pipeline import complete

    result = complete(done.reading, llm=options.llm, reader=reader)
    result.report_id = report_id(item.source, item.sha256)
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
    new = [finding_json(f) for f in findings]
    if old == new:
        return False
    result["findings"] = [f for f in result["findings"] if f["kind"] != "cross_year"] + new
    result["status"] = from_json(result).status
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


def summarise(journal: Journal, counts: dict, options: BatchOptions, currency: str, mismatches: int) -> Summary:
    """The summary, from the journal: statuses counted in SQL, and only the results that asked
    the LLM (or were refused it) read, for their calls."""
    statuses = journal.status_counts()
    totals: Counter[str] = Counter()
    costs: list[float] = []  # summed at the end, as before, to the same last digit
    refused = []
    for r in journal.results_with_llm():
        for c in (r.get("llm") or {}).get("calls", []):
            totals["llm_calls"] += not c.get("cached") and not c.get("budget")
            totals["llm_cached"] += bool(c.get("cached"))
            totals["input_tokens"] += c.get("input_tokens", 0)
            totals["output_tokens"] += c.get("output_tokens", 0)
            costs.append(c.get("cost", 0.0))
        if any(f["kind"] == "budget" for f in r["findings"]):
            refused.append(r["source"]["name"])
    seconds = counts["seconds"]
    return Summary(
        out=options.out,
        inputs=counts["inputs"],
        reports=statuses.total(),
        duplicates=journal.duplicates(),
        status=dict(sorted(statuses.items())),
        processed_this_run=counts["processed"],
        already_done=counts["skipped"],
        llm_calls=totals["llm_calls"],
        llm_cached=totals["llm_cached"],
        input_tokens=totals["input_tokens"],
        output_tokens=totals["output_tokens"],
        cost=round(sum(costs), 6),
        currency=currency,
        max_cost=options.max_cost,
        max_tokens=options.max_tokens,
        left_without_llm_for_budget=sorted(refused),
        cross_year_mismatches=mismatches,
        seconds=round(seconds, 3),
        reports_per_second=round(counts["processed"] / seconds, 1) if seconds and counts["processed"] else None,
    )


def _open_journal(out: Path) -> Journal:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GxllmError(f"{out}: cannot create the run folder ({error.strerror or error})") from None
    return Journal(out / "gxllm.sqlite")


@dataclass
class Plan:
    """What a run would do (`plan_batch`, the CLI's --dry-run); `to_json` is what the CLI prints."""

    inputs: int
    duplicates: int
    already_done: int
    to_process: int
    urls_not_fetched_yet: int
    unreadable: int
    reports_needing_llm: int
    reports_needing_ocr: int  # scanned: what their tables need is known only once OCRed
    pages_needing_ocr: int
    llm_calls: int
    llm_calls_cached: int
    worst_case_input_tokens: int
    worst_case_output_tokens: int
    worst_case_cost: float
    currency: str
    model: str
    llm_configured: bool
    spent: int = 0  # a plan spends nothing

    def to_json(self) -> str:
        return json_text({f.name: getattr(self, f.name) for f in fields(self)})


def plan_batch(inputs: Iterable[str], options: BatchOptions, settings: LLMSettings | None = None) -> Plan:
    """What `run_batch` would do: inputs, what is already done, which reports and tables would
    need the LLM, and the worst-case tokens and cost of asking. Nothing is fetched, written or paid."""
    from .llm.client import ResponseCache, TableReader
    from .llm.request import LLMAnswer
    from .load import read_input
    from .load.pdf import image_only_pages
    from .pipeline import extract_bytes
    from .settings import load_settings

    settings = load_settings() if settings is None else settings
    path = options.out / "gxllm.sqlite"
    journal = Journal(path) if path.exists() else None
    try:
        work = prepare(list(inputs), options.out, journal, fetch_urls=False)
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
    return Plan(
        inputs=len(work),
        duplicates=len(work) - len(kept),
        already_done=len(kept) - len(pending),
        to_process=len(pending),
        urls_not_fetched_yet=sum(1 for w in pending if w.path is None and not w.error),
        unreadable=unreadable + sum(1 for w in pending if w.error),
        reports_needing_llm=reports,
        reports_needing_ocr=scans,
        pages_needing_ocr=scanned_pages,
        llm_calls=sum(1 for a in asked if a != (0, 0)),
        llm_calls_cached=sum(1 for a in asked if a == (0, 0)),
        worst_case_input_tokens=input_tokens,
        worst_case_output_tokens=output_tokens,
        worst_case_cost=round(settings.cost(input_tokens, output_tokens), 6),
        currency=settings.prices[2],
        model=settings.effective_model,
        llm_configured=settings.configured,
    )


# --- after a review -----------------------------------------------------------------------------


@dataclass
class Applied:
    """What `apply_decisions` did: every result after the decisions, the ones that changed, and
    the decisions read."""

    results: list[dict]
    changed: list[dict]
    decisions: list[Decision]


def apply_decisions(results_spec: str, decisions_path: str, *, dry_run: bool = False) -> Applied:
    """A reviewer's decisions (the CSV of `gxllm review` with resolved_value filled in) written
    back into the results at `results_spec` (a run folder, results.jsonl or extract JSON), every
    identity checked again. A run folder's journal, results.jsonl, cells.csv and summary.json are
    all updated, after the cross-year check is run again. `dry_run`: nothing is written.

    Raises InputError for a file that cannot be read, DecisionError listing every bad row (and
    then nothing changes).
    """
    from .review.apply import apply, read_decisions
    from .run.results_io import load_results, save_results

    try:
        with open(decisions_path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise InputError(f"{decisions_path}: not UTF-8; save the CSV as UTF-8 (Excel: CSV UTF-8)") from None
    except FileNotFoundError:
        raise InputError(f"{decisions_path}: no such file") from None
    results = load_results(results_spec)
    decisions = read_decisions(text, decisions_path, results.results)
    changed = apply(results.results, decisions)
    if results.kind == "run":  # a decided 结转 cell may settle (or raise) a cross-year mismatch
        ids = {r["report_id"] for r in changed}
        changed += [r for r in refresh_cross_year(results.results)[0] if r["report_id"] not in ids]
    if not dry_run and changed:
        save_results(results, changed)
    return Applied(results.results, changed, decisions)
