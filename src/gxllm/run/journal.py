"""The batch journal: `gxllm.sqlite` in the run folder (SQLite, WAL).

Every finished report is committed in one transaction (its result, cells, findings and LLM
calls), so a run killed at any moment loses nothing finished and resumes where it stopped. A
report is done when a row holds its source with the same content hash and pipeline version; a
changed file or a new gxllm version is processed again. Inputs with the same content are one
report, kept under the first of them in source order; `duplicates` names every other one. The
tables are meant to be opened with any SQLite tool as well:

    reports(id, source, sha256, pipeline, status, agency, year, template, result, finished)
    cells(report_id, source, agency, year, template, tbl, row_key, column_key, row_label, column_label, value, provenance, flagged)
    cell_lines(report_id, csv)     the same cells as the lines of cells.csv, zlib-compressed
    carried(report_id, cells)      the cells carried from one year to the next, as JSON [table, row, column, value] (cross-year check)
    findings(report_id, kind, identity, cells, message)
    llm_calls(report_id, tbl, model, mode, input_tokens, output_tokens, cost, cached, attempts, seconds, error)
    duplicates(source, same_as, sha256)   an input with the same content as the report `same_as`
    fetches(url, path)
    spend(at, cost, tokens)        every LLM call's real cost, written when it returns
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from .. import template as T
from ..model import Result, report_id  # noqa: F401  (report_id: where batch and tests find it)
from ..output import cell_rows, csv_lines, report_csv_lines
from ..result_json import finding_paths, from_json
from ..tables.validate import Carry

if TYPE_CHECKING:
    from ..pipeline import RuleReading

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id TEXT PRIMARY KEY, source TEXT UNIQUE NOT NULL, sha256 TEXT, pipeline TEXT NOT NULL, status TEXT NOT NULL,
    agency TEXT, year INTEGER, template TEXT, result TEXT NOT NULL, finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    report_id TEXT NOT NULL, source TEXT, agency TEXT, year INTEGER, template TEXT, tbl TEXT NOT NULL,
    row_key TEXT NOT NULL, column_key TEXT NOT NULL, row_label TEXT, column_label TEXT, value,
    provenance TEXT, flagged INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cells_report ON cells(report_id);
CREATE TABLE IF NOT EXISTS cell_lines (report_id TEXT PRIMARY KEY, csv BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS carried (report_id TEXT PRIMARY KEY, cells TEXT);
CREATE TABLE IF NOT EXISTS findings (
    report_id TEXT NOT NULL, kind TEXT NOT NULL, identity TEXT, cells TEXT, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_report ON findings(report_id);
CREATE TABLE IF NOT EXISTS llm_calls (
    report_id TEXT NOT NULL, tbl TEXT, model TEXT, mode TEXT, input_tokens INTEGER, output_tokens INTEGER,
    cost REAL, cached INTEGER, attempts INTEGER, seconds REAL, error TEXT
);
CREATE TABLE IF NOT EXISTS duplicates (source TEXT PRIMARY KEY, same_as TEXT NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fetches (url TEXT PRIMARY KEY, path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spend (at REAL NOT NULL, cost REAL NOT NULL, tokens INTEGER NOT NULL);
"""

# A connection sharing its lock (a batch worker) checkpoints every 32 of its commits (~2 MB of
# WAL, about what SQLite's automatic checkpoint lets through), every 4th time in its turn.
# SQLite's own checkpoint runs inside COMMIT, in turn: the other workers wait for every one.
_CHECKPOINT_EVERY = 32
_RESTART_EVERY = 4
_TURN_WAIT = 2.0  # seconds: a turn takes ~1 ms, a checkpoint in turn ~20 ms

CHILDREN = ("cells", "cell_lines", "carried", "findings", "llm_calls")  # the tables of a report's rows, by report_id
CELL_COLUMNS = (
    "report_id", "source", "agency", "year", "template", "tbl", "row_key", "column_key", "row_label",
    "column_label", "value", "provenance", "flagged",
)  # fmt: skip: the `cells` table's names for CELL_FIELDS


@dataclass
class Entry:
    """A finished report as the journal stores it. Built where the report was extracted (in a
    worker process for the rule path), so that storing it only inserts."""

    report_id: str
    status: str
    agency: str | None
    year: int | None
    template: str | None
    result: str  # the result as JSON
    cells: list[tuple]
    # The cells' lines of cells.csv, compressed: made here, so that writing cells.csv at the end
    # of a run is a concatenation, not a query and CSV formatting of every cell of the run.
    cell_lines: bytes
    # Its carried cells (`_carried`): the cross-year check reads these few, not every cell of a run.
    carried: str | None
    findings: list[tuple]
    calls: list[tuple]
    llm_calls: int  # calls made (not cached, not refused for the budget), for the progress bar
    cost: float
    ocr_pages: int = 0  # scanned pages the OCR read, for the progress bar
    # The rules' reading of a report whose tables the rules left to an LLM that was not asked:
    # the LLM step continues from it (`pipeline.complete`) instead of reading the file again.
    reading: RuleReading | None = None

    @property
    def needs_llm(self) -> bool:
        return self.reading is not None


def entry(result: Result | dict, reading: RuleReading | None = None) -> Entry:
    """The journal's rows of a result (which has its `report_id`), typed or in JSON."""
    if isinstance(result, dict):
        result = from_json(result)
    rid = result.report_id
    meta = result.report
    calls = result.llm.calls if result.llm else []
    cells = cell_rows(result)
    return Entry(
        rid, result.status, meta.agency, meta.year, meta.template,
        json.dumps(result.to_json(), ensure_ascii=False), cells, _compressed(report_csv_lines(cells)), _carried(cells),
        [(rid, f.kind, f.identity, json.dumps(finding_paths(f)), f.message) for f in result.findings],
        [
            (rid, c.get("table"), c.get("model"), c.get("mode"), c.get("input_tokens"), c.get("output_tokens"),
             c.get("cost"), int(bool(c.get("cached"))), c.get("attempts"), c.get("seconds"), c.get("error"))
            for c in calls
        ],
        sum(not c.get("cached") and not c.get("budget") for c in calls), sum(c.get("cost", 0.0) for c in calls),
        (result.source or {}).get("ocr_pages", 0), reading,
    )  # fmt: skip


def _compressed(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 1)  # level 1: ~12× smaller, at a fifth of level 6's time


def _carried_rows(identities: Iterable[T.CarryIdentity]) -> set[tuple[str, str]]:
    """The (table, row) pairs the template carries over from one year to the next."""
    return {(i.table, row) for i in identities for row in (i.row, i.next_row)}


_CARRIED_ROWS = frozenset(_carried_rows(T.CARRY_IDENTITIES))
_CARRIED_TABLES = frozenset(table for table, _ in _CARRIED_ROWS)
_TABLE, _ROW, _COLUMN, _VALUE = map(CELL_COLUMNS.index, ("tbl", "row_key", "column_key", "value"))  # in `cell_rows`


def _carried(cells: list[tuple]) -> str | None:
    """A report's carried cells (`cell_rows`) as JSON [table, row, column, value] in their order;
    None for a report without a carried table (it has no cross-year reading)."""
    if not any(cell[_TABLE] in _CARRIED_TABLES for cell in cells):
        return None
    carried = [(c[_TABLE], c[_ROW], c[_COLUMN], c[_VALUE]) for c in cells if (c[_TABLE], c[_ROW]) in _CARRIED_ROWS]
    return json.dumps(carried, ensure_ascii=False)


def carry_of(result: dict, identities: Iterable[T.CarryIdentity] = T.CARRY_IDENTITIES) -> Carry | None:
    """The cross-year reading of a result; None for one without agency, year or the carried tables."""
    meta, rows = result["report"], _carried_rows(identities)
    if not (meta.get("agency") and meta.get("year") and any(result.get(table) for table, _ in rows)):
        return None
    cells = {
        (table, row, column): value
        for table, row in rows
        for column, value in (((result.get(table) or {}).get(row)) or {}).items()
    }
    return Carry(result["report_id"], result["source"]["name"], meta["agency"], meta["year"], cells)


class Journal:
    def __init__(self, path: Path, lock=None):
        """`lock`: a lock shared with other processes writing the journal (batch workers): their
        transactions take turns on it, and this connection checkpoints after its commits, outside it."""
        self.path = path
        # LLM threads write `spend` as each call returns; the lock keeps their writes out of the
        # main thread's transactions on the one connection.
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self.lock = lock or threading.RLock()
        self.shared = lock is not None
        self.commits = 0
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives a killed process
        if self.shared:  # checkpoints out of turn (`transaction`), not inside a commit
            self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def done(self, source: str, sha256: str | None, pipeline: str) -> bool:
        row = self.db.execute("SELECT sha256, pipeline FROM reports WHERE source = ?", (source,)).fetchone()
        return row is not None and row == (sha256, pipeline)

    def record(self, source: str, sha256: str | None, pipeline: str, done: Entry) -> None:
        """Store one finished report (`entry`) atomically, replacing an older reading of the
        same source."""
        with self.transaction():
            self._forget("source = ? OR id = ?", (source, done.report_id))
            self.db.execute(
                "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (done.report_id, source, sha256, pipeline, done.status, done.agency, done.year, done.template,
                 done.result, time.time()),
            )  # fmt: skip
            self._children(done)

    def _forget(self, where: str, params: tuple) -> None:
        """Delete the reports that match `where`, with their cells, findings and LLM calls."""
        ids = [(rid,) for (rid,) in self.db.execute(f"SELECT id FROM reports WHERE {where}", params)]
        if not ids:  # a report read for the first time: most of them
            return
        for table in CHILDREN:
            self.db.executemany(f"DELETE FROM {table} WHERE report_id = ?", ids)
        self.db.executemany("DELETE FROM reports WHERE id = ?", ids)

    def record_duplicates(self, kept: list[str], duplicates: list[tuple[str, str, str]]) -> None:
        """This run's reading of which inputs are duplicates: `kept` sources are reports,
        `duplicates` are (source, same_as, sha256). A source that is now a duplicate loses the
        report an earlier run may have stored under it (the kept source is processed instead)."""
        with self.transaction():
            self.db.executemany("DELETE FROM duplicates WHERE source = ?", [(source,) for source in kept])
            self.db.executemany("INSERT OR REPLACE INTO duplicates VALUES (?, ?, ?)", duplicates)
            for source, _, _ in duplicates:
                self._forget("source = ?", (source,))

    def prune_duplicates(self) -> None:
        """Drop the duplicates whose report is gone or now holds other content (a later run
        without them read a changed file)."""
        with self.transaction():
            self.db.execute(
                "DELETE FROM duplicates WHERE NOT EXISTS (SELECT 1 FROM reports r "
                "WHERE r.source = duplicates.same_as AND r.sha256 = duplicates.sha256)"
            )

    def duplicates(self) -> list[dict]:
        """The inputs left out as duplicates, in source order (summary.json)."""
        rows = self.db.execute("SELECT source, same_as FROM duplicates ORDER BY source")
        return [{"source": source, "same_as": same_as} for source, same_as in rows]

    def _children(self, done: Entry) -> None:
        self.db.executemany("INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", done.cells)
        self.db.execute("INSERT INTO cell_lines VALUES (?, ?)", (done.report_id, done.cell_lines))
        self.db.execute("INSERT INTO carried VALUES (?, ?)", (done.report_id, done.carried))
        self.db.executemany("INSERT INTO findings VALUES (?, ?, ?, ?, ?)", done.findings)
        self.db.executemany("INSERT INTO llm_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", done.calls)

    def update_all(self, results: Iterable[dict]) -> None:
        """Replace stored results changed after extraction (the cross-year check, a reviewer's
        decisions), all in one transaction: never some of them. `results` may be a generator
        that reads them from this journal one at a time."""
        with self.transaction():
            for result in results:
                done = entry(result)
                self.db.execute("UPDATE reports SET status = ?, result = ? WHERE id = ?",
                                (done.status, done.result, done.report_id))  # fmt: skip
                for table in CHILDREN:
                    self.db.execute(f"DELETE FROM {table} WHERE report_id = ?", (done.report_id,))
                self._children(done)

    def result_lines(self) -> Iterator[bytes]:
        """The stored results as JSON lines in UTF-8, in source order (results.jsonl)."""
        for (text,) in self.db.execute("SELECT CAST(result AS BLOB) FROM reports ORDER BY source"):
            yield text + b"\n"

    def cell_lines(self) -> Iterator[bytes]:
        """Every cell as a line of cells.csv in UTF-8, in source order, then in template order."""
        rows = self.db.execute(
            "SELECT r.id, l.csv FROM reports r LEFT JOIN cell_lines l ON l.report_id = r.id ORDER BY r.source"
        )
        for rid, lines in rows:
            if lines is not None:
                yield zlib.decompress(lines)
            else:  # stored by a gxllm before cell_lines
                columns = ", ".join(CELL_COLUMNS)
                cells = self.db.execute(f"SELECT {columns} FROM cells WHERE report_id = ? ORDER BY rowid", (rid,))
                yield csv_lines(cells).encode("utf-8")

    def results(self) -> list[dict]:
        """Every stored result, in source order (so outputs do not depend on the order of work)."""
        return list(self.each_result())

    def each_result(self) -> Iterator[dict]:
        """The stored results one at a time, in source order: a run's memory does not grow with it."""
        for text in self.result_lines():
            yield json.loads(text)

    def status_counts(self) -> Counter[str]:
        return Counter(dict(self.db.execute("SELECT status, COUNT(*) FROM reports GROUP BY status")))

    def results_with_llm(self) -> Iterator[dict]:
        """The stored results that asked the LLM or were refused it for the budget, in source order."""
        rows = self.db.execute(
            "SELECT result FROM reports WHERE id IN (SELECT report_id FROM llm_calls) "
            "OR id IN (SELECT report_id FROM findings WHERE kind = 'budget') ORDER BY source"
        )
        for (text,) in rows:
            yield json.loads(text)

    def result(self, rid: str) -> dict:
        return json.loads(self.db.execute("SELECT result FROM reports WHERE id = ?", (rid,)).fetchone()[0])

    def ids_with(self, kind: str) -> set[str]:
        """The reports with a finding of this kind."""
        return {rid for (rid,) in self.db.execute("SELECT DISTINCT report_id FROM findings WHERE kind = ?", (kind,))}

    def carries(self, identities: Iterable[T.CarryIdentity] = T.CARRY_IDENTITIES) -> Iterator[Carry]:
        """`carry_of` every stored result, in source order, read from the journal's tables
        instead of the results: the cross-year check of a run of any size. Each report's carried
        cells are stored apart (`carried`), for the national template's identities; other
        identities, or reports stored by a gxllm before that table, are read from `cells`."""
        old = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM reports r WHERE NOT EXISTS (SELECT 1 FROM carried k WHERE k.report_id = r.id))"
        ).fetchone()[0]
        if old or set(_carried_rows(identities)) != _CARRIED_ROWS:
            yield from self._carries_from_cells(identities)
            return
        rows = self.db.execute(
            "SELECT r.id, r.agency, r.year, r.source, k.cells FROM reports r JOIN carried k ON k.report_id = r.id "
            "WHERE r.agency <> '' AND r.year AND k.cells IS NOT NULL ORDER BY r.source"
        )
        for rid, agency, year, source, cells in rows:
            carried = json.loads(cells)
            yield Carry(rid, source if carried else None, agency, year, {(t, r, c): v for t, r, c, v in carried})

    def _carries_from_cells(self, identities: Iterable[T.CarryIdentity]) -> Iterator[Carry]:
        pairs = sorted(_carried_rows(identities))
        tables = sorted({table for table, _ in pairs})
        rows = self.db.execute(
            "SELECT r.id, r.agency, r.year, c.source, c.tbl, c.row_key, c.column_key, c.value FROM reports r "
            "LEFT JOIN cells c ON c.report_id = r.id AND (c.tbl, c.row_key) IN "
            f"(VALUES {', '.join(['(?, ?)'] * len(pairs))}) "
            "WHERE r.agency <> '' AND r.year AND EXISTS "
            f"(SELECT 1 FROM cells a WHERE a.report_id = r.id AND a.tbl IN ({', '.join('?' * len(tables))})) "
            "ORDER BY r.source, c.rowid",
            [key for pair in pairs for key in pair] + tables,
        )
        for (rid, agency, year), cells in groupby(rows, key=lambda row: row[:3]):
            carry = Carry(rid, None, agency, year, {})
            for *_, name, table, row, column, value in cells:
                if row is not None:
                    carry.name = name
                    carry.cells[(table, row, column)] = value
            yield carry

    def fetched(self, url: str) -> str | None:
        row = self.db.execute("SELECT path FROM fetches WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def record_fetch(self, url: str, path: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO fetches VALUES (?, ?)", (url, path))

    def add_spend(self, cost: float, tokens: int) -> None:
        """Record a call's real cost at once: a run killed before its report is stored has still
        paid, and a resumed run's budget starts from everything paid in this run folder."""
        with self.transaction():
            self.db.execute("INSERT INTO spend VALUES (?, ?, ?)", (time.time(), cost, tokens))

    def spent(self) -> tuple[float, int]:
        cost, tokens = self.db.execute("SELECT COALESCE(SUM(cost), 0), COALESCE(SUM(tokens), 0) FROM spend").fetchone()
        return float(cost), int(tokens)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._turn():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            self.commits += 1
            due = self.shared and self.commits % _CHECKPOINT_EVERY == 0
            if due and self.commits % (_CHECKPOINT_EVERY * _RESTART_EVERY) == 0:
                # In turn: nothing is committed meanwhile, so all of the WAL is copied back and
                # the next commit writes it from its start again (it stops growing).
                self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                due = False
        if due:  # out of turn: the others go on committing
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This connection's turn on the journal. A shared lock not given within `_TURN_WAIT`
        seconds is held by a process that died in its turn: this connection then takes its turns
        without it (SQLite's own locking alone keeps the journal right, only slower)."""
        if not self.lock.acquire(timeout=_TURN_WAIT if self.shared else -1):
            self.lock = threading.RLock()
            self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()

