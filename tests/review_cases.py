"""Results that need review, made the way users get them: rendered reports run through
`extract_bytes`, with an LLM reader that answers like a model that misread some cells.

    consistent(seed)                 an ok result (both paths agree when `llm="always"`)
    disagreeing(seed)                the LLM reads 表三 一、本年新收 / 自然人 one higher: a disagreement
    misprinted(seed)                 the report itself prints 表三 一、/自然人 one higher: identities fail
    unreadable(seed)                 表三 (二)部分公开 printed with glued text: unreadable, no LLM configured
    unreadable_text(seed)            that report's text, to read with an LLM reader (reader_answering)
    batch_of(n, review_every)        n results, every `review_every`-th one needing review
"""

from __future__ import annotations

import copy

from layouts import render_pipe_rows, sample_report

from gxllm.llm.request import LLMAnswer
from gxllm.pipeline import extract_bytes
from gxllm.run.journal import report_id
from gxllm.template import Shape

CELL = ("applications", "new_received", "natural_person")


def reader_answering(report: dict, wrong: dict[tuple[str, str, str], int] | None = None):
    """An LLM reader that answers the report's own values, except the `wrong` cells."""

    def read(shape: Shape, text: str) -> LLMAnswer:
        values = {r.key: {c.key: report[shape.table][r.key][c.key] for c in shape.columns_of(r)} for r in shape.rows}
        for (table, row, column), value in (wrong or {}).items():
            if table == shape.table:
                values[row][column] = value
        return LLMAnswer(shape.table, "test-model", "tools", values, input_tokens=1000, output_tokens=200, cost=0.001)

    return read


def extract_rendered(report: dict, name: str, **kwargs) -> dict:
    result = extract_bytes(render_pipe_rows(report).encode(), name, **kwargs)
    result["report_id"] = report_id(name, result["source"]["sha256"])
    return result


def consistent(seed: int, name: str | None = None) -> dict:
    report = sample_report(seed)
    return extract_rendered(report, name or f"reports/ok-{seed}.txt", llm="always", reader=reader_answering(report))


def disagreeing(seed: int, name: str | None = None) -> dict:
    report = sample_report(seed)
    table, row, column = CELL
    wrong = {CELL: report[table][row][column] + 1}
    return extract_rendered(report, name or f"reports/disagree-{seed}.txt", llm="always", reader=reader_answering(report, wrong))


def misprinted(seed: int, name: str | None = None) -> dict:
    report = copy.deepcopy(sample_report(seed))
    table, row, column = CELL
    report[table][row][column] += 1
    return extract_rendered(report, name or f"reports/misprint-{seed}.txt", llm="never")


def unreadable_text(seed: int) -> str:
    """The report with text glued into its (二)部分公开 row: the rules cannot place its numbers."""
    report = sample_report(seed)
    text = render_pipe_rows(report)
    value = report["applications"]["partially_granted"]["natural_person"]
    line = next(x for x in text.splitlines() if "部分公开" in x)
    return text.replace(line, line.replace(f"| {value} |", f"| {value}件 另 |", 1))


def unreadable(seed: int, name: str | None = None) -> dict:
    name = name or f"reports/unreadable-{seed}.txt"
    result = extract_bytes(unreadable_text(seed).encode(), name, llm="auto")
    result["report_id"] = report_id(name, result["source"]["sha256"])
    return result


def batch_of(n: int, review_every: int = 10) -> list[dict]:
    makers = (disagreeing, misprinted)
    return [
        makers[(i // review_every) % 2](i) if i % review_every == 0 else consistent(i) for i in range(n)
    ]
