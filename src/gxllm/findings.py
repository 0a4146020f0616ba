"""Findings: what a person should know about one result, each with a stable kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .template import CellRef


@dataclass(frozen=True)
class Kind:
    """A kind of finding, declared once: whether it makes a report need review on its own, how a
    reviewer reads its name, whether it means the rules left a table's reading open, so that
    `--llm auto` asks the LLM for that table, and the wording of its message (`messages`: a
    `str.format` template per way of saying it, "" the usual one; `finding` fills it in). The
    README's findings table lists exactly these (a test says so)."""

    key: str
    review: bool
    label: str  # Chinese, for the review page and report
    asks_llm: bool = False
    messages: Mapping[str, str] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return f"{self.label} {self.key}"


_ABSENT = {"": "{number} {title} not found in the report; its cells are null"}  # a required table or an optional one
KINDS = {
    k.key: k
    for k in (
        Kind("identity", True, "勾稽关系不成立", asks_llm=True,
             messages={"": "{instance}: {description}: {arithmetic}{note}", "counts": "counts {row} {column}: {value} is not {expected}",
                       "printed": "{instance}: {description}: fails {why}: the printed numbers do not add up"}),
        Kind("unreadable", True, "无法读取", asks_llm=True,
             messages={"glued": "row 「{label}」: numbers glued together without separators ({run}); the cell boundaries are not in the text",
                       "empty": "row 「{label}」: no values printed after it",
                       "garbled": "row 「{label}」: {texts} among the numbers is not a number",
                       "unaligned": "row 「{label}」: {count} values ({seen}) for {width} columns; cannot tell which cell is which",
                       "split": "{where}: the glued digits 「{run}」 {why}",
                       "one_row": "{number}: expected {width} values in one row, found: {seen}"}),
        Kind("missing", True, "缺失", asks_llm=True,
             messages={"": "{number} row 「{label}」 not found in the table"}),
        Kind("unassigned", True, "无法对应到行", asks_llm=True,
             messages={"": "{number}: values not under any row label: {seen}"}),
        Kind("absent", True, "未找到该表", messages=_ABSENT),
        Kind("absent_optional", False, "未找到可选的表", messages=_ABSENT),  # 表二: reports may write prose instead
        Kind("blank", False, "空白单元格",
             messages={"": "{count} cell(s) printed blank (kept as null)"}),
        Kind("disagreement", True, "两种读法不一致",
             messages={"": "{number} {row} / {column}: rules read {rules}, the LLM {llm}; the rule value is kept. Identities "
                           "holding with the rule value: {rules_hold}; with the LLM value: {llm_hold}"}),
        Kind("llm_unverified", True, "仅LLM读出且未通过校验",
             messages={"": "{number}: {count} cell(s) read only by the LLM, and {failing} identity check(s) fail with them; check them "
                           "against the source",
                       "split": "the LLM read {read}, which is not a split of the printed digits 「{run}」; the cells stay unread"}),
        Kind("llm_failed", True, "LLM读取失败",
             messages={"": "{number}: the LLM could not read it ({error}); the rule values are kept"}),
        Kind("llm_not_configured", True, "需要LLM但未配置",
             messages={"": "{number}: {why}, but no LLM is configured; set OPENAI_API_KEY (and OPENAI_BASE_URL), or use --llm-endpoint local"}),
        Kind("budget", True, "预算不足未调用LLM",
             messages={"": "{number}: not read by the LLM: {why}; the rule values are kept"}),
        Kind("cross_year", True, "与上年报告不一致",
             messages={"": "cross-year {column}: {next_row} of {year} ({later}) is {now}, {row} of {earlier_year} ({earlier}) is {before}"}),
        Kind("read_by_llm", False, "由LLM读出",
             messages={"": "{message}; read by the LLM"}),
        Kind("digits_split", False, "粘连数字已按勾稽关系拆分",
             messages={"rows": "{number}: {count} row(s) printed with their digits glued together, each read by the only split that "
                               "keeps the identities: {rows}",
                       "one_row": "{number}: its {count} numbers printed glued together, read by the only split that keeps {kept}"}),
        Kind("ocr_low_confidence", True, "OCR识别存疑",
             messages={"": "{number}: {count} cell(s) the OCR read with doubt or not at all, and no holding identity confirms: {listed}"}),
        Kind("ocr_confirmed", False, "OCR存疑但勾稽关系成立",
             messages={"": "{number}: {count} cell(s) the OCR read with doubt, confirmed by the identities: {listed}"}),
        Kind("no_table", True, "未找到任何表",
             messages={"": "no {names} found; is this a 政府信息公开工作年度报告?"}),
        Kind("unreadable_input", True, "无法读取的文件"),
        Kind("no_text_layer", True, "扫描件无文字层"),
    )
}  # fmt: skip


def say(kind: str, variant: str = "", **fields) -> str:
    """A kind's declared wording (`Kind.messages`), filled in with `fields`."""
    return KINDS[kind].messages[variant].format(**fields)


def finding(
    kind: str, cells: list[CellRef], *, variant: str = "", details: dict | None = None, tables: list[str] | None = None, **fields
) -> Finding:
    """A finding whose message is its kind's declared wording, filled in with `fields`."""
    return Finding(kind, cells, say(kind, variant, **fields), details=details or {}, tables=tables or [])


# Kinds that never make a report need review on their own.
INFORMATIONAL = frozenset(k.key for k in KINDS.values() if not k.review)
# Kinds that leave a table's reading open: `--llm auto` asks the LLM for such a table.
ASKS_LLM = frozenset(k.key for k in KINDS.values() if k.asks_llm)
# Kinds whose cells hold no reading at all: identities over them prove nothing.
UNREAD = ("missing", "unreadable")


@dataclass
class Finding:
    """One finding. Cells are `CellRef`s; a finding about a whole table (absent) names the table in
    `tables`. The JSON writes both in one `cells` list of strings (`result_json.finding_json`)."""

    kind: str  # identity, missing, unreadable, unassigned, blank, absent, absent_optional, …
    cells: list[CellRef]
    message: str
    identity: str | None = None
    reported: int | float | None = None  # identity: the printed total side
    computed: int | float | None = None  # identity: the sum of the parts
    blank_as_zero: list[CellRef] = field(default_factory=list)
    # Kind-specific facts, written beside the message (disagreement: both values and the
    # identities each satisfies; llm_failed: attempts, tokens, the last reply).
    details: dict = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)  # the tables named as a whole, by key

    @property
    def needs_review(self) -> bool:
        return self.kind not in INFORMATIONAL

    @property
    def table(self) -> str | None:
        """The table it is about: its `table` detail, the table it names, or its first cell's."""
        if self.details.get("table"):
            return self.details["table"]
        if self.tables:
            return self.tables[0]
        return self.cells[0].table if self.cells else None
