"""`gxllm batch`: a dataset out of many reports, resumable, within a hard LLM budget."""

import csv
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, error_reply, tool_call_reply
from layouts import render_pipe_rows, sample_report

from gxllm import template as T
from gxllm.batch import BatchOptions, Progress, Summary, cross_year, plan_batch, run_batch
from gxllm.run.journal import Journal
from gxllm.cli import main
from gxllm.settings import load_settings
from gxllm.tables.validate import Carry, agency_key, check_carry, check_cross_year

FIXTURES = Path(__file__).parent / "fixtures"
GARBLED = FIXTURES / "llm" / "units-in-cells.txt"
GOLD = json.loads((FIXTURES / "reports" / "corpus-2024-hongze-district" / "gold.json").read_text("utf-8"))


def copy_reports(folder: Path) -> list[Path]:
    """Every fixture report as its own file (name = folder + source suffix)."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for source in sorted((FIXTURES / "reports").glob("*/source.*")):
        target = folder / f"{source.parent.name}{source.suffix}"
        shutil.copy(source, target)
        copies.append(target)
    return copies


def batch(capsys, *argv) -> tuple[int, str, str]:
    code = main(["batch", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_folder_becomes_one_dataset_and_a_rerun_redoes_nothing(tmp_path, capsys):
    copies = copy_reports(tmp_path / "reports")
    run = tmp_path / "run"
    code, out, err = batch(capsys, tmp_path / "reports", "--out", run, "--llm", "never", "-q", "--workers", "2")
    assert (code, out, err) == (1, "", "")  # 2023-hongze prints a wrong 表四 总计: review
    results = [json.loads(line) for line in (run / "results.jsonl").read_text("utf-8").splitlines()]
    assert [r["source"]["name"] for r in results] == sorted(str(p) for p in copies)
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert summary["reports"] == len(copies) and summary["processed_this_run"] == len(copies)
    assert summary["status"] == {"ok": len(copies) - 2, "review": 2}
    with open(run / "cells.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(1 for r in results for _ in _cells(r))
    huaian = [r for r in rows if r["source"].endswith("corpus-2024-huaian-city.pdf")]
    total = next(r for r in huaian if (r["table"], r["row"], r["column"]) == ("applications", "new_received", "total"))
    assert (total["value"], total["row_label"], total["column_label"], total["provenance"], total["flagged"]) == (
        "3119", "一、本年新收政府信息公开申请数量", "总计", "rules", "0",
    )
    db = sqlite3.connect(run / "gxllm.sqlite")
    assert db.execute("SELECT COUNT(*) FROM reports").fetchone() == (len(copies),)
    assert db.execute("SELECT COUNT(*) FROM cells").fetchone() == (len(rows),)

    before = (run / "cells.csv").read_bytes()
    with db:  # as a journal from before cell_lines: cells.csv is then written from the cells table
        db.execute("DELETE FROM cell_lines WHERE rowid % 2 = 0")
    db.close()
    code, _, err = batch(capsys, tmp_path / "reports", "--out", run, "--llm", "never")
    assert code == 1 and f"0 this run, {len(copies)} already done" in err
    assert (run / "cells.csv").read_bytes() == before
    copies[0].write_bytes(copies[0].read_bytes() + b"\n")  # a changed report is done again, alone
    batch(capsys, tmp_path / "reports", "--out", run, "--llm", "never", "-q")
    assert json.loads((run / "summary.json").read_text("utf-8"))["processed_this_run"] == 1


def test_run_batch_is_the_batch_command_as_a_call(tmp_path, capsys):
    reports = sorted(copy_reports(tmp_path / "reports"))[:4]
    seen: list[Progress] = []
    summary = run_batch(map(str, reports), BatchOptions(tmp_path / "lib", llm="never", workers=1),
                        load_settings({"llm": "never"}), on_progress=lambda p: seen.append(Progress(**vars(p))))  # fmt: skip
    code, _, err = batch(capsys, *reports, "--out", tmp_path / "cli", "--llm", "never", "--workers", "1")
    assert isinstance(summary, Summary) and summary.out == tmp_path / "lib"
    assert (summary.inputs, summary.reports, summary.processed_this_run, summary.status) == (4, 4, 4, {"ok": 2, "review": 2})
    assert [(p.inputs, p.done) for p in seen] == [(4, 0), (4, 1), (4, 2), (4, 3), (4, 4)]
    assert (tmp_path / "lib" / "summary.json").read_text("utf-8") == summary.to_json()
    for output in ("cells.csv", "results.jsonl"):
        assert (tmp_path / "lib" / output).read_bytes() == (tmp_path / "cli" / output).read_bytes()
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text("utf-8"))
    assert list(cli) == list(summary.to_dict())
    assert {k: v for k, v in cli.items() if k not in RUN_DEPENDENT} == {
        k: v for k, v in summary.to_dict().items() if k not in RUN_DEPENDENT
    }
    assert code == 1 and "status       ok 2, review 2\n" in err and f"written      {tmp_path / 'cli'}/results.jsonl" in err
    plan = plan_batch(map(str, reports), BatchOptions(tmp_path / "lib", llm="never"), load_settings({"llm": "never"}))
    assert (plan.inputs, plan.already_done, plan.to_process, plan.spent) == (4, 4, 0, 0)
    code, out, _ = batch(capsys, *reports, "--out", tmp_path / "lib", "--llm", "never", "--dry-run")
    assert (code, out) == (0, plan.to_json())


@pytest.mark.parametrize("gold", sorted((FIXTURES / "reports").glob("*/gold.json")), ids=lambda p: p.parent.name)
def test_a_reports_cells_csv_lines_are_what_csv_writes(gold):
    from gxllm.output import cell_rows, csv_lines, report_csv_lines
    from gxllm.result_json import from_json

    result = json.loads(gold.read_text("utf-8"))
    result["report"]["agency"] = 'A "quoted", agency'  # fields csv must quote
    result["report_id"], result["source"] = "id", {"name": "reports/a,b.txt"}
    typed = from_json(result)
    typed.tables["applications"].values["new_received"]["total"] = 1.5
    typed.tables["applications"].values["new_received"]["natural_person"] = None
    rows = cell_rows(typed)
    assert report_csv_lines(rows) == csv_lines(rows) and '"A ""quoted"", agency"' in csv_lines(rows)


def _cells(result: dict):
    from gxllm.output import cells

    return cells(result)


RUN_DEPENDENT = ("processed_this_run", "already_done", "seconds", "reports_per_second")


def test_killed_batch_with_duplicates_resumes_to_the_same_dataset(tmp_path):
    rng = random.Random(13)
    reports = tmp_path / "reports"
    reports.mkdir()
    sources = sorted((FIXTURES / "reports").glob("*/source.txt"))
    contents = [rng.randrange(150) for _ in range(320)]  # about 130 contents, most under several names
    for i, content in enumerate(contents):
        shutil.copy(sources[content % len(sources)], reports / f"r{i:04d}.txt")
        with open(reports / f"r{i:04d}.txt", "a", encoding="utf-8") as f:
            f.write(f"\n{content}\n")
    first = {content: i for i, content in reversed(list(enumerate(contents)))}
    name = partial("{}/r{:04d}.txt".format, reports)
    duplicates = [{"source": name(i), "same_as": name(first[c])} for i, c in enumerate(contents) if first[c] != i]
    kept = len(first)
    command = [sys.executable, "-m", "gxllm.cli", "batch", str(reports), "--llm", "never", "-q", "--workers", "2"]
    clean = subprocess.run(command + ["--out", str(tmp_path / "clean")], capture_output=True)
    assert clean.returncode == 1, clean.stderr

    run = tmp_path / "killed"
    for stored in sorted(rng.sample(range(kept // 2), 3)):  # killed three times at random moments
        process = subprocess.Popen(command + ["--out", str(run)], stderr=subprocess.DEVNULL)
        while _stored(run) < stored and process.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))  # between two reports, or while one is being stored
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        assert stored <= _stored(run) < kept  # the kill really landed mid-run
    finished = subprocess.run(command + ["--out", str(run)], capture_output=True)
    assert finished.returncode == 1
    for output in ("cells.csv", "results.jsonl"):
        assert (run / output).read_bytes() == (tmp_path / "clean" / output).read_bytes()
    summaries = [json.loads((folder / "summary.json").read_text("utf-8")) for folder in (run, tmp_path / "clean")]
    for summary in summaries:
        for key in RUN_DEPENDENT:
            del summary[key]
    assert summaries[0] == summaries[1]
    assert (summaries[0]["inputs"], summaries[0]["reports"], summaries[0]["duplicates"]) == (320, kept, duplicates)
    with sqlite3.connect(run / "gxllm.sqlite") as db:
        assert db.execute("SELECT source, same_as FROM duplicates ORDER BY source").fetchall() == [
            (d["source"], d["same_as"]) for d in duplicates
        ]


def test_a_duplicate_an_earlier_run_stored_gives_way_to_the_first_input(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    report, other = (render_pipe_rows(sample_report(seed)) for seed in (11, 12))
    for name, text in (("a.txt", other), ("b.txt", report), ("c.txt", report), ("d.txt", report)):
        (tmp_path / "in" / name).write_text(text, "utf-8")
    inputs = partial("{}/{}.txt".format, tmp_path / "in")
    run, clean = tmp_path / "run", tmp_path / "clean"
    batch(capsys, inputs("c"), "--out", run, "--llm", "never", "-q")  # c was read first, alone
    code, _, err = batch(capsys, tmp_path / "in", "--out", run, "--llm", "never")
    assert code == 0
    assert "duplicates=2" in err  # the progress bar
    assert "inputs       4 (2 duplicates of an earlier input, listed in summary.json)\nreports      2 (2 this run, 0 already done)" in err
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert summary["duplicates"] == [{"source": inputs("c"), "same_as": inputs("b")}, {"source": inputs("d"), "same_as": inputs("b")}]
    batch(capsys, tmp_path / "in", "--out", clean, "--llm", "never", "-q")
    for output in ("cells.csv", "results.jsonl"):
        assert (run / output).read_bytes() == (clean / output).read_bytes()

    (tmp_path / "in" / "b.txt").write_text(other.replace("\n", "\n\n"), "utf-8")  # b changed: c keeps the report
    batch(capsys, inputs("b"), inputs("c"), inputs("d"), "--out", run, "--llm", "never", "-q")
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert summary["duplicates"] == [{"source": inputs("d"), "same_as": inputs("c")}]
    results = [json.loads(line)["source"]["name"] for line in (run / "results.jsonl").open()]
    assert results == [inputs("a"), inputs("b"), inputs("c")]
    code, out, _ = batch(capsys, tmp_path / "in", "--out", run, "--llm", "never", "--dry-run")
    assert {k: v for k, v in json.loads(out).items() if k in ("inputs", "duplicates", "already_done")} == {
        "inputs": 4, "duplicates": 1, "already_done": 3,
    }


def _stored(run: Path) -> int:
    try:
        with sqlite3.connect(run / "gxllm.sqlite", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_same_agency_in_consecutive_years_is_checked_across_reports(tmp_path, capsys):
    earlier, later = sample_report(11), sample_report(11)
    earlier["report"].update(agency="某某市人民政府办公室", year=2023)
    later["report"].update(agency="某某市政府办公室", year=2024)  # 人民 dropped: still the same agency
    later["applications"]["carried_over"] = dict(earlier["applications"]["carried_forward"])
    later["applications"]["carried_over"]["natural_person"] += 1
    (tmp_path / "in").mkdir()
    for name, report in (("a2023.txt", earlier), ("a2024.txt", later)):
        (tmp_path / "in" / name).write_text(render_pipe_rows(report), "utf-8")
    code, _, _ = batch(capsys, tmp_path / "in", "--out", tmp_path / "run", "--llm", "never", "-q")
    results = {Path(r["source"]["name"]).name: r for r in map(json.loads, (tmp_path / "run" / "results.jsonl").open())}
    mismatch = [f for r in results.values() for f in r["findings"] if f["kind"] == "cross_year"]
    assert len(mismatch) == 2  # the identities inside each report still hold; the pair does not
    assert mismatch[0]["message"] == mismatch[1]["message"]
    assert {f["cells"][0] for f in mismatch} == {"applications.carried_over.natural_person", "applications.carried_forward.natural_person"}
    assert code == 1 and all(r["status"] == "review" for r in results.values())
    assert json.loads((tmp_path / "run" / "summary.json").read_text("utf-8"))["cross_year_mismatches"] == 1
    journal = Journal(tmp_path / "run" / "gxllm.sqlite")
    carries = list(journal.carries())  # from each report's stored carried cells
    assert [(c.agency, c.year, len(c.cells)) for c in carries] == [("某某市人民政府办公室", 2023, 14), ("某某市政府办公室", 2024, 14)]
    journal.db.execute("DELETE FROM carried WHERE rowid = 1")  # as a journal from before `carried`: from `cells`
    assert list(journal.carries()) == carries


def test_cross_year_pairs_only_consecutive_years_of_the_same_agency():
    def result(rid, agency, year, forward, over):
        return {"report_id": rid, "report": {"agency": agency, "year": year}, "source": {"name": rid},
                "applications": {"carried_forward": {"total": forward}, "carried_over": {"total": over}}}  # fmt: skip

    results = [result("a", "甲县人民政府", 2022, 5, 0), result("b", "甲县政府", 2024, 0, 9), result("c", "乙县人民政府", 2023, 1, 7)]
    assert cross_year(results) == {}  # 2022 → 2024 is not consecutive; 乙县 is another agency


def test_cross_year_finds_the_same_pairs_as_comparing_every_pair():
    """Names are the same agency when equal, or both ≥ 4 characters and one ends with the other."""

    def same_agency(a: str, b: str) -> bool:
        return a == b or (min(len(a), len(b)) >= 4 and (a.endswith(b) or b.endswith(a)))

    draw = random.Random(7)
    carries = [
        Carry(f"r{n}", f"r{n}", "".join(draw.choices("甲乙市县政府", k=draw.randint(1, 6))), draw.choice((2022, 2023, 2024)),
              {("applications", "carried_forward", "total"): draw.randint(0, 2), ("applications", "carried_over", "total"): draw.randint(0, 2)})
        for n in range(300)
    ]  # fmt: skip
    expected: dict[str, list] = {}
    years = dict.fromkeys(carry.year for carry in carries)  # in the order first seen, as the findings are
    for later in (carry for year in years for carry in carries if carry.year == year):
        for earlier in carries:
            if earlier.year == later.year - 1 and same_agency(agency_key(later.agency), agency_key(earlier.agency)):
                for rid, findings in check_carry(earlier, later, T.CARRY_IDENTITIES).items():
                    expected.setdefault(rid, []).extend(findings)
    found = check_cross_year(carries)
    assert found == expected and len(found) > 50


def llm_settings(fake: FakeOpenAI) -> list[str]:
    return ["--llm-endpoint", fake.base_url, "--model", "fake-model", "--price-in", "1", "--price-out", "2"]


def garbled_copies(folder: Path, count: int) -> None:
    """Copies of the garbled report whose 表三 texts differ (so no answer comes from the cache)."""
    folder.mkdir()
    text = GARBLED.read_text("utf-8")
    for i in range(count):
        (folder / f"g{i:02d}.txt").write_text(text.replace("申请人情况", f"申请人情况（第{i}份）"), "utf-8")


T3 = T.shape_for("applications", None, set(GOLD["applications"]))
ANSWER = {row.key: [GOLD["applications"][row.key][c.key] for c in T3.columns_of(row)] for row in T3.rows}


# One call is billed 2500 + 2×600 = 0.0037; its worst case (request bytes × 3 attempts) is ~0.06.
@pytest.mark.parametrize("max_cost", [0.05, 0.1, 0.2])
def test_the_cost_cap_is_never_crossed_with_concurrency_and_retries(tmp_path, capsys, max_cost):
    garbled_copies(tmp_path / "in", 24)
    calls = {"n": 0}
    lock = threading.Lock()

    def reply(request: dict):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n % 5 == 0:
            return error_reply(429, retry_after="0.01")
        return tool_call_reply(ANSWER, prompt_tokens=2500, completion_tokens=600)

    with FakeOpenAI(default=reply) as fake:
        args = [tmp_path / "in", "--out", tmp_path / "run", "--concurrency", "8", "--max-cost", max_cost, "-q"]
        batch(capsys, *args, *llm_settings(fake))
        billed = fake.usage_total()
    spent = (billed["prompt_tokens"] * 1 + billed["completion_tokens"] * 2) / 1e6
    summary = json.loads((tmp_path / "run" / "summary.json").read_text("utf-8"))
    assert spent <= max_cost
    assert summary["cost"] == pytest.approx(spent)
    assert summary["llm_calls"] + len(summary["left_without_llm_for_budget"]) == 24
    assert bool(summary["left_without_llm_for_budget"]) == (max_cost < 0.2)
    assert bool(summary["llm_calls"]) == (max_cost >= 0.1)
    refused = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").open()]
    assert all(any(f["kind"] == "budget" for f in r["findings"]) == (r["status"] == "review") for r in refused)


def test_dry_run_counts_and_estimates_but_spends_nothing(tmp_path, capsys):
    garbled_copies(tmp_path / "in", 3)
    with FakeOpenAI(default=tool_call_reply(ANSWER)) as fake:
        code, out, _ = batch(capsys, tmp_path / "in", "--out", tmp_path / "run", "--dry-run", *llm_settings(fake))
        assert fake.requests == []
    plan = json.loads(out)
    assert code == 0 and not (tmp_path / "run").exists()
    assert (plan["inputs"], plan["reports_needing_llm"], plan["llm_calls"], plan["spent"]) == (3, 3, 3, 0)
    assert plan["worst_case_input_tokens"] > 3 * 2000 and plan["worst_case_cost"] > 0


def test_url_inputs_are_fetched_once_into_the_run(tmp_path, capsys):
    site = tmp_path / "site"
    copies = copy_reports(site)
    served = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            served.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        readable = [p for p in copies if "2023-hongze" not in p.name][:3]  # that one prints a wrong 总计
        urls = [f"http://127.0.0.1:{server.server_address[1]}/{p.name}" for p in readable]
        (tmp_path / "urls.txt").write_text("\n".join(["# three reports", *urls]) + "\n", "utf-8")
        code, _, _ = batch(capsys, tmp_path / "urls.txt", "--out", tmp_path / "run", "--llm", "never", "-q")
        assert len(served) == 3 and len(list((tmp_path / "run" / "downloads").iterdir())) == 3
        batch(capsys, tmp_path / "urls.txt", "--out", tmp_path / "run", "--llm", "never", "-q")
        assert len(served) == 3  # resumed: nothing fetched again
    finally:
        server.shutdown()
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").open()]
    assert sorted(r["source"]["name"] for r in results) == sorted(urls)
    assert code == 0 and {r["status"] for r in results} == {"ok"}


def _hold_and_die(lock) -> None:
    lock.acquire()
    os._exit(0)  # dies in its turn: the lock stays taken


def test_a_worker_dead_in_its_turn_does_not_stop_the_others(tmp_path, monkeypatch):
    """Batch workers take turns on the journal through a shared lock; one that died holding it
    leaves the others writing, without the lock, after a short wait."""
    import multiprocessing

    import gxllm.run.journal as journal_module

    monkeypatch.setattr(journal_module, "_TURN_WAIT", 0.1)
    context = multiprocessing.get_context("fork")
    lock = context.RLock()
    holder = context.Process(target=_hold_and_die, args=(lock,))
    holder.start()
    holder.join()
    journal = Journal(tmp_path / "gxllm.sqlite", lock=lock)
    journal.add_spend(0.5, 10)
    journal.add_spend(0.25, 5)
    assert journal.spent() == (0.75, 15)
    assert journal.lock is not lock  # waited for once, then left
