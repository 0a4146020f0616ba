"""Size and open time of the HTML review page for a large batch.

    python bench/review_bench.py [--reports 1000] [--review 100] [--out DIR]
    python bench/review_bench.py --open review.html     # time a page made from a real run

Builds --reports results of which --review need review (copies of a few real extractions made by
tests/review_cases.py, each with its own source name and report id), renders the page with
`gxllm.review.page.render_html`, and opens it in headless Chromium (tests/browser.py) three
times. Prints the page size and, best of three, the milliseconds from navigation start to the
end of the load event and to the end of the page script's init (`data-ready`), then one line
of JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from browser import BrowserUnavailable, start_chromium  # noqa: E402
from review_cases import consistent, disagreeing, misprinted, unreadable  # noqa: E402

from gxllm.review.conflicts import review  # noqa: E402
from gxllm.review.page import render_html  # noqa: E402
from gxllm.run.journal import report_id  # noqa: E402

# Distinct extractions to copy from: enough for the page to show different numbers.
SEEDS = range(4)


def copy_of(result: dict, i: int) -> dict:
    """The result as if read from another file: a new name and report id (the page never
    changes a result, so the tables and provenance can be shared)."""
    name = f"reports/{i:05d}-{Path(result['source']['name']).name}"
    source = {**result["source"], "name": name}
    return {**result, "source": source, "report_id": report_id(name, f"{source['sha256']}{i}")}


def make_results(reports: int, in_review: int) -> list[dict]:
    needing_review = [make(seed) for seed in SEEDS for make in (disagreeing, misprinted, unreadable)]
    ok = [consistent(seed) for seed in SEEDS]
    in_review_at = {k * reports // in_review for k in range(in_review)}  # spread through the batch
    to_review = itertools.cycle(needing_review)
    return [copy_of(next(to_review) if i in in_review_at else ok[i % len(ok)], i) for i in range(reports)]


def timings(driver, url: str) -> dict:
    driver.get(url)  # returns after the load event
    navigation = driver.execute_script("return performance.getEntriesByType('navigation')[0].toJSON()")
    return {
        "load_ms": round(navigation["loadEventEnd"] - navigation["startTime"], 1),
        "ready_ms": float(driver.execute_script("return document.documentElement.dataset.ready")),
    }


def open_times(path: Path) -> list[dict]:
    try:
        driver = start_chromium()
    except BrowserUnavailable as missing:
        print(f"not opened: {missing}", file=sys.stderr)
        return []
    try:
        return [timings(driver, path.resolve().as_uri()) for _ in range(3)]
    finally:
        driver.quit()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--review", type=int, default=100, help="how many of the reports need review")
    ap.add_argument("--out", metavar="DIR", help="write review.html here and keep it")
    ap.add_argument("--open", metavar="PAGE", help="only time this page (from gxllm review)")
    args = ap.parse_args()

    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.open:
            path = Path(args.open)
        else:
            results = make_results(args.reports, args.review)
            started = time.perf_counter()
            reviews = review(results)
            page = render_html(results, reviews, title=f"gxllm review bench: {args.reports} reports")
            figures = {"reports": args.reports, "in_review": len(reviews), "conflicts": sum(len(r.conflicts) for r in reviews),
                       "render_s": round(time.perf_counter() - started, 3)}  # fmt: skip
            folder = Path(args.out or tmp)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "review.html"
            path.write_text(page, "utf-8")
        figures["size_mb"] = round(path.stat().st_size / 1e6, 3)
        print(f"{path}: {figures['size_mb']:.2f} MB")
        runs = open_times(path)
    for i, run in enumerate(runs, 1):
        print(f"open {i}: load event end {run['load_ms']} ms, script ready {run['ready_ms']} ms")
    if runs:
        figures.update({key: min(run[key] for run in runs) for key in ("load_ms", "ready_ms")})
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
