"""The Python API, for notebooks and pipelines: `gxllm.extract`, `gxllm.run_batch`, `gxllm.to_frame`.

    >>> import gxllm
    >>> result = gxllm.extract("tests/fixtures/reports/corpus-2024-huaian-city/source.pdf", llm="never")
    >>> result.status, result.report.agency, result.report.year
    ('ok', '淮安市人民政府', 2024)
    >>> result.value(gxllm.CellRef("applications", "new_received", "total"))
    3119
    >>> result.to_json()["applications"]["carried_over"]["natural_person"]
    34

The result is typed (`gxllm.Result`); `to_json()` gives the canonical dict `gxllm extract` prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import template as T
from .model import Result

if TYPE_CHECKING:
    import pandas

    from .pipeline import Reader
    from .settings import LLMSettings


def extract(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    llm: str = "auto",
    reader: Reader | None = None,
    settings: LLMSettings | None = None,
    encoding: str | None = None,
    template: T.Template = T.NATIONAL,
) -> Result:
    """Read one report: a path (.pdf/.docx/.html/.txt/.md) or its bytes (`name` then says what to
    call it in the result). Raises `gxllm.errors.InputError` when it is not a readable report.

    `llm`: "never" (rules only), "auto" (ask the LLM for what the rules could not read or whose
    identities fail) or "always" (both paths on every table). The LLM is `reader` when given (a
    callable `(shape, text) -> LLMAnswer`), else the one `settings` describe (default: the
    environment and config file, as `gxllm config` shows them); with none configured, tables that
    needed it are noted and the report is `review`.

        >>> import gxllm
        >>> data = open("tests/fixtures/reports/corpus-2024-huaian-city/source.pdf", "rb").read()
        >>> gxllm.extract(data, name="huaian-2024.pdf", llm="never").source["name"]
        'huaian-2024.pdf'
        >>> gxllm.extract("no/such/report.pdf")
        Traceback (most recent call last):
        gxllm.errors.InputError: no/such/report.pdf: no such file
    """
    from .load import load, read_input
    from .pipeline import extract_result

    if isinstance(source, bytes):
        data, shown = source, name or "<bytes>"
    else:
        data, shown = read_input(os.fspath(source))
        shown = name or shown
    doc = load(data, shown, encoding)
    if reader is not None or llm == "never":
        return extract_result(doc, llm=llm, reader=reader, template=template)
    from .settings import load_settings

    settings = settings or load_settings({"llm": llm})
    if not settings.configured:
        return extract_result(doc, llm=llm, template=template)
    from .llm.client import open_reader

    with open_reader(settings) as configured:
        return extract_result(doc, llm=llm, reader=configured, template=template)


def to_frame(results: Iterable[Result | dict]) -> pandas.DataFrame:
    """A long pandas DataFrame, one row per cell, with the columns of a batch's cells.csv
    (report_id, source, agency, year, template, table, row, column, row_label, column_label,
    value, provenance, flagged). `results`: typed results, or canonical dicts (a results.jsonl's
    lines). Needs pandas (`pip install 'gxllm[frame]'`).

        >>> import gxllm
        >>> frame = gxllm.to_frame([gxllm.extract("tests/fixtures/reports/corpus-2024-huaian-city/source.pdf", llm="never")])
        >>> frame.groupby("table").size().to_dict()
        {'active_disclosure': 10, 'applications': 175, 'reviews_and_lawsuits': 15}
        >>> frame.query("row == 'new_received' and column == 'total'")["value"].item()
        3119.0
    """
    try:
        import pandas
    except ImportError:
        from .errors import GxllmError

        raise GxllmError("gxllm.to_frame needs pandas: pip install 'gxllm[frame]'") from None
    from .output import CELL_FIELDS, cell_rows
    from .result_json import as_result

    rows = [row for result in results for row in cell_rows(as_result(result))]
    frame = pandas.DataFrame.from_records(rows, columns=list(CELL_FIELDS))
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame
