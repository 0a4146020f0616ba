"""Results on disk, for `review` and `apply`: a batch run folder, a results.jsonl, or the JSON
of `gxllm extract` (one object or an array). Writing is all-or-nothing: the run folder's journal
in one transaction (then its output files rewritten from it), a file by write-and-rename. The
run folder's output files (results.jsonl, cells.csv, summary.json) are written here, for batch
and apply alike."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from ..errors import InputError

if TYPE_CHECKING:
    from .journal import Journal


@dataclass
class ResultSet:
    path: Path
    kind: Literal["run", "jsonl", "json"]
    results: list[dict]
    single: bool = False  # a .json holding one object, not an array


def load_results(spec: str) -> ResultSet:
    """The results at `spec`; raises InputError with what to give instead."""
    path = Path(spec)
    if path.is_dir():
        if (path / "gxllm.sqlite").exists():
            from .journal import Journal

            journal = Journal(path / "gxllm.sqlite")
            try:
                return ResultSet(path, "run", journal.results())
            finally:
                journal.close()
        if (path / "results.jsonl").exists():
            return load_results(str(path / "results.jsonl"))
        raise InputError(f"{spec}: not a batch run folder (no gxllm.sqlite or results.jsonl in it)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{spec}: no such file or folder") from None
    except UnicodeDecodeError:
        raise InputError(f"{spec}: not gxllm results (not UTF-8 JSON); give a run folder, results.jsonl or extract JSON") from None
    except OSError as error:
        raise InputError(f"{spec}: {error.strerror or error}") from None
    kind: Literal["jsonl", "json"] = "jsonl" if path.suffix == ".jsonl" else "json"
    results: list = []
    single = False
    if kind == "json":
        try:
            data = json.loads(text)
            single = isinstance(data, dict)
            results = [data] if single else data
        except json.JSONDecodeError as error:
            if error.msg != "Extra data":  # several objects, one per line: JSON Lines
                raise InputError(f"{spec} line {error.lineno}: not JSON ({error.msg})") from None
            kind = "jsonl"
    if kind == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise InputError(f"{spec} line {number}: not JSON ({error.msg})") from None
    if not isinstance(results, list):
        results = [results]
    for number, result in enumerate(results, 1):
        if not isinstance(result, dict) or "status" not in result or "report" not in result:
            raise InputError(f"{spec}: result {number} is not a gxllm result (no 'status' and 'report'); was it made by gxllm extract or batch?")
    return ResultSet(path, kind, results, single)


def save_results(results: ResultSet, changed: list[dict]) -> None:
    """Write the results back where they came from; `changed` are the ones to store again."""
    if results.kind == "run":
        from .journal import Journal

        journal = Journal(results.path / "gxllm.sqlite")
        try:
            journal.update_all(changed)
            write_outputs(results.path, journal, json_text(refresh_summary(results.path, results.results)))
        finally:
            journal.close()
        return
    if results.kind == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results.results)
    else:
        text = json_text(results.results[0] if results.single else results.results)
    write_atomic(results.path, text)


def json_text(value: object) -> str:
    """The JSON files gxllm writes: indented, Chinese as is, ending with a newline."""
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def write_outputs(out: Path, journal: Journal, summary_json: str) -> None:
    """results.jsonl, cells.csv and summary.json of a run folder, from its journal in source order."""
    from ..output import CELL_FIELDS, csv_lines

    with atomic_file(out / "results.jsonl") as handle:
        handle.writelines(journal.result_lines())
    with atomic_file(out / "cells.csv") as handle:
        handle.write(csv_lines([CELL_FIELDS]).encode("utf-8"))
        handle.writelines(journal.cell_lines())
    write_atomic(out / "summary.json", summary_json)


def refresh_summary(out: Path, results: list[dict]) -> dict:
    """summary.json after the results changed without a run (`gxllm apply`): the run's own
    figures stay, the status counts, cross-year mismatches and reviewed cells are recounted."""
    from ..result_json import from_json

    path = out / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"reports": len(results)}
    typed = [from_json(r) for r in results]
    summary["status"] = dict(sorted(Counter(r.status for r in typed).items()))
    summary["cross_year_mismatches"] = sum(f.kind == "cross_year" for r in typed for f in r.findings) // 2
    summary["human_decisions"] = sum(
        cell.source == "human" for r in typed for table in r.tables.values() if table for cell in table.cells.values()
    )
    return summary


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file written whole (in bytes: UTF-8 is the caller's), then renamed into place: a reader
    never sees half of it. It gets the permissions a new file would get (not the private ones of a
    temporary file). A path that is not a regular file (`-o /dev/null`, a pipe) is written as it is."""
    import stat
    import tempfile  # with shutil and random: not needed by a run that writes to stdout

    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    if special:  # /dev/null or a named pipe: written in place, since a rename would replace it
        with open(path, "wb") as handle:
            yield handle
        return
    folder = path.resolve().parent
    with tempfile.NamedTemporaryFile("wb", dir=folder, delete=False) as tmp:
        try:
            yield tmp
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)
    os.replace(tmp.name, path)


def write_atomic(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))
