"""The national report templates, declared once as data.

Everything that knows a table, a row, a column, a Chinese label or an identity reads it from
here: the parser (anchors), the validator (identities), the output model and JSON schema, the
CSV writer and the review report. The pipeline runs on a `Template`: its `Table`s, each saying
how it is found, which shapes it takes and how its shape is told, how it is read and printed,
and the cells carried over from year to year. `NATIONAL` is the national one, in two variants:

- "2021": 国办公开办函〔2021〕30号, reports for 2021 and later;
- "2019": 国办公开办函〔2019〕60号, reports for 2019 and 2020.

Anchors are regular expressions matched against *normalised* text (simplified characters,
NFKC, no whitespace), so they are written in simplified characters with half-width
punctuation, and they tolerate the label variants seen in real reports (typos, 1./1、).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal, NamedTuple

from .errors import TemplateError

TemplateId = Literal["2021", "2019"]
TEMPLATES: tuple[TemplateId, ...] = ("2021", "2019")

# How a column's values are checked: counts are non-negative integers, `signed` may be
# negative (本年增/减), `money` may be fractional (万元, 元).
ValueKind = Literal["count", "signed", "money"]


class CellRef(NamedTuple):
    """One cell of one table, by the template's keys; ordered by table, row, column. Inside gxllm
    a cell is always one of these; the JSON's "table.row.column" strings are `result_json`'s."""

    table: str
    row: str
    column: str


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: ValueKind = "count"
    unit_key: str | None = None  # where the printed unit (元/万元) of an amount goes


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    anchor: str  # regex on normalised, whitespace-free text
    columns: tuple[Column, ...] = ()  # 表二 rows carry their own columns
    result: bool = False  # 表三: one of the rows summed by T3-results
    short: str = ""  # 表三: how the template's own notes name the row (一, (三)1, 三(七)…)

    @property
    def short_label(self) -> str:
        return self.short or self.label


@dataclass(frozen=True)
class SumIdentity:
    """sum(lhs) == sum(rhs), instantiated once per row (`per="row"`) or per column.

    `lhs`/`rhs` name column keys for per-row identities and row keys for per-column ones;
    `rhs=None` means "every result row of the table" (T3-results).
    """

    id: str
    table: str
    per: Literal["row", "column"]
    lhs: tuple[str, ...]
    rhs: tuple[str, ...] | None
    description: str


@dataclass(frozen=True)
class Shape:
    """The rows and columns one table has in one report (read from the table itself)."""

    table: str
    variant: str  # "2021" / "2019": which template the table follows
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]  # 表三/表四: shared by every row; 表二: empty (per row)
    identities: tuple[SumIdentity, ...] = ()  # the sum identities over the table

    def row(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)

    def identity(self, id: str) -> SumIdentity:
        return next(i for i in self.identities if i.id == id)

    def columns_of(self, row: Row) -> tuple[Column, ...]:
        return row.columns or self.columns

    def cell(self, row: str, column: str) -> tuple[Row, Column] | None:
        """The row and column of a cell of this shape, or None where the shape has no such cell."""
        row_spec = next((r for r in self.rows if r.key == row), None)
        column_spec = next((c for c in self.columns_of(row_spec) if c.key == column), None) if row_spec else None
        return (row_spec, column_spec) if column_spec else None

    def cell_paths(self) -> tuple[tuple[Row, Column], ...]:
        return self._cell_paths

    @cached_property
    def _cell_paths(self) -> tuple[tuple[Row, Column], ...]:
        return tuple((r, c) for r in self.rows for c in self.columns_of(r))

    @cached_property
    def sum_instances(self) -> tuple[SumInstance, ...]:
        """Every instance of the table's sum identities in this shape: per row or per column. Made
        once per shape object (a shape is hashed field by field: too slow as a cache key)."""
        row_keys = [r.key for r in self.rows]
        column_keys = [c.key for c in self.columns]
        out = []
        for identity in self.identities:
            if identity.per == "row":
                if set(identity.lhs + identity.rhs) <= set(column_keys):
                    out += [
                        _instance(self.table, identity.id, row.label, [(row.key, c) for c in identity.lhs], [(row.key, c) for c in identity.rhs])
                        for row in self.rows
                    ]
                continue
            rhs = identity.rhs or tuple(r.key for r in self.rows if r.result)
            if set(identity.lhs + rhs) <= set(row_keys):
                out += [
                    _instance(self.table, identity.id, column.label, [(r, column.key) for r in identity.lhs], [(r, column.key) for r in rhs])
                    for column in self.columns
                ]
        return tuple(out)

    @cached_property
    def refs(self) -> dict[str, tuple[CellRef, ...]]:
        """Each row's cells, in its columns' order: made once per shape, as every report names them."""
        return {r.key: tuple(CellRef(self.table, r.key, c.key) for c in self.columns_of(r)) for r in self.rows}

    @cached_property
    def cells(self) -> tuple[CellRef, ...]:
        """Every cell, in `cell_paths` order."""
        return tuple(cell for row in self.rows for cell in self.refs[row.key])

    @cached_property
    def _column_keys(self) -> dict[str, tuple[str, ...]]:
        return {r.key: tuple(c.key for c in self.columns_of(r)) for r in self.rows}

    def empty_values(self) -> dict[str, dict[str, None]]:
        """Every cell of the shape, null: a table before (or without) reading."""
        return {row: dict.fromkeys(columns) for row, columns in self._column_keys.items()}


# --- 表二 主动公开政府信息情况 -------------------------------------------------------------

# Reports print 政府集中采购 采购总金额 in 元 or 万元; the unit goes beside the value.
AMOUNT_UNIT_KEY = "total_amount_unit"

_ISSUED = (Column("issued", "本年制发件数"), Column("repealed", "本年废止件数"), Column("in_force", "现行有效件数"))
_DECISIONS_2021 = (Column("decisions", "本年处理决定数量"),)
_MADE = (
    Column("newly_made", "本年新制作数量"),
    Column("newly_published", "本年新公开数量"),
    Column("total_published", "对外公开总数量"),
)
_ITEMS = (Column("prior_year_items", "上一年项目数量"), Column("change", "本年增/减", "signed"))
_ITEMS_DECISIONS = _ITEMS + (Column("decisions", "处理决定数量"),)

ACTIVE_DISCLOSURE_ROWS: dict[str, tuple[Row, ...]] = {
    "2021": (
        Row("regulations", "规章", r"规章", _ISSUED),
        Row("normative_documents", "行政规范性文件", r"规范性文件", _ISSUED),
        Row("administrative_licensing", "行政许可", r"行政许可", _DECISIONS_2021),
        Row("administrative_penalty", "行政处罚", r"行政处罚", _DECISIONS_2021),
        Row("administrative_coercion", "行政强制", r"行政强制", _DECISIONS_2021),
        Row(
            "administrative_fees",
            "行政事业性收费",
            r"事业性收费",
            (Column("amount_wan_yuan", "本年收费金额(单位:万元)", "money"),),
        ),
    ),
    "2019": (
        Row("regulations", "规章", r"规章", _MADE),
        Row("normative_documents", "规范性文件", r"规范性文件", _MADE),
        Row("administrative_licensing", "行政许可", r"行政许可", _ITEMS_DECISIONS),
        Row("other_external_services", "其他对外管理服务事项", r"其他对外管理服务", _ITEMS_DECISIONS),
        Row("administrative_penalty", "行政处罚", r"行政处罚", _ITEMS_DECISIONS),
        Row("administrative_coercion", "行政强制", r"行政强制", _ITEMS_DECISIONS),
        Row("administrative_fees", "行政事业性收费", r"事业性收费", _ITEMS),
        Row(
            "government_procurement",
            "政府集中采购",
            r"集中采购",
            (Column("projects", "采购项目数量"), Column("total_amount", "采购总金额", "money", AMOUNT_UNIT_KEY)),
        ),
    ),
}
# Header words that tell the two 表二 templates apart.
ACTIVE_DISCLOSURE_MARKERS: dict[str, str] = {
    "2021": r"本年制发|本年废止|现行有效|本年收费金额",
    "2019": r"新制作|新公开|对外公开总|上一年项目|本年增/?减|集中采购|其他对外管理服务",
}

# --- 表三 收到和处理政府信息公开申请情况 ---------------------------------------------------

APPLICANT_COLUMNS = (
    Column("natural_person", "自然人"),
    Column("commercial_enterprise", "商业企业"),
    Column("research_institution", "科研机构"),
    Column("public_interest_org", "社会公益组织"),
    Column("legal_service_org", "法律服务机构"),
    Column("other_org", "其他"),
)
ORGANISATION_COLUMNS = APPLICANT_COLUMNS[1:]
SUBTOTAL_COLUMN = Column("legal_person_subtotal", "法人或其他组织小计")
TOTAL_COLUMN = Column("total", "总计")
SUBTOTAL_MARKER = r"小计"
# Header words of the printed 表三 that name groups of columns, not columns.
APPLICANTS_HEADING = "申请人情况"
ORGANISATION_GROUP = SUBTOTAL_COLUMN.label.removesuffix("小计")  # 法人或其他组织

_T3_HEAD = (
    Row("new_received", "一、本年新收政府信息公开申请数量", r"本年新收", short="一"),
    Row("carried_over", "二、上年结转政府信息公开申请数量", r"上年结转", short="二"),
    Row("granted", "三、本年度办理结果 (一)予以公开", r"予以公开", result=True, short="(一)"),
    Row("partially_granted", "(二)部分公开", r"部分公开", result=True, short="(二)"),
    Row("withheld_state_secret", "(三)不予公开 1.属于国家秘密", r"国家秘密", result=True, short="(三)1"),
    Row("withheld_prohibited_by_law", "(三) 2.其他法律行政法规禁止公开", r"其他法律行政", result=True, short="(三)2"),
    Row("withheld_security_stability", "(三) 3.危及“三安全一稳定”", r"危及|三安全一稳定", result=True, short="(三)3"),
    Row("withheld_third_party", "(三) 4.保护第三方合法权益", r"第三方合法权益", result=True, short="(三)4"),
    Row("withheld_internal_affairs", "(三) 5.属于三类内部事务信息", r"内部事务", result=True, short="(三)5"),
    Row("withheld_process_info", "(三) 6.属于四类过程性信息", r"过程性信息", result=True, short="(三)6"),
    Row("withheld_enforcement_file", "(三) 7.属于行政执法案卷", r"执法案卷", result=True, short="(三)7"),
    Row("withheld_query_matter", "(三) 8.属于行政查询事项", r"行政查询", result=True, short="(三)8"),
    Row("unavailable_not_held", "(四)无法提供 1.本机关不掌握相关政府信息", r"不掌握", result=True, short="(四)1"),
    Row("unavailable_needs_creation", "(四) 2.没有现成信息需要另行制作", r"没有现成信息|另行制作", result=True, short="(四)2"),
    Row("unavailable_unclear", "(四) 3.补正后申请内容仍不明确", r"补正后申请|仍不明确", result=True, short="(四)3"),
    Row("not_processed_complaint", "(五)不予处理 1.信访举报投诉类申请", r"信访举报", result=True, short="(五)1"),
    Row("not_processed_duplicate", "(五) 2.重复申请", r"重复申请", result=True, short="(五)2"),
    Row("not_processed_publication", "(五) 3.要求提供公开出版物", r"公开出版物", result=True, short="(五)3"),
    Row("not_processed_excessive", "(五) 4.无正当理由大量反复申请", r"大量反复", result=True, short="(五)4"),
    Row(
        "not_processed_confirmation",
        "(五) 5.要求行政机关确认或重新出具已获取信息",
        r"确认或重新出具|要求行政机关确认",
        result=True,
        short="(五)5",
    ),
)
_T3_OTHER = {
    "2021": (
        Row(
            "other_no_correction",
            "(六)其他处理 1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
            r"无正当理由逾期|逾期不补正",
            result=True,
            short="(六)1",
        ),
        Row(
            "other_unpaid_fee",
            "(六) 2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
            r"逾期未按收费|收费通知",
            result=True,
            short="(六)2",
        ),
        Row("other_misc", "(六) 3.其他", r"3[.、,]?其他(?!法律)", result=True, short="(六)3"),
    ),
    "2019": (Row("other_processing", "(六)其他处理", r"其他处理", result=True, short="(六)"),),
}
_T3_TAIL = (
    Row("total_processed", "(七)总计", r"\(七\)总计|七\)?总计|总计", short="三(七)"),
    Row("carried_forward", "四、结转下年度继续办理", r"结转下年", short="四"),
)
# Which (六) shape a 表三 has is read from the table: any 2021 sub-row decides it.
# Which (六) shape a 表三 has is read from the table: any 2021 sub-row decides it.
APPLICATIONS_2021_MARKER = r"无正当理由逾期|逾期不补正|逾期未按收费|收费通知"

APPLICATIONS_IDENTITIES = (
    SumIdentity(
        "T3-row", "applications", "row", ("total",), tuple(c.key for c in APPLICANT_COLUMNS),
        "总计 = 自然人 + 五类法人或其他组织",
    ),
    SumIdentity(
        "T3-subtotal", "applications", "row", ("legal_person_subtotal",),
        tuple(c.key for c in ORGANISATION_COLUMNS), "法人或其他组织小计 = 五类组织之和",
    ),
    SumIdentity(
        "T3-results", "applications", "column", ("total_processed",), None,
        "(七)总计 = (一)至(六)各项之和",
    ),
    SumIdentity(
        "T3-flow", "applications", "column", ("new_received", "carried_over"),
        ("total_processed", "carried_forward"), "一 + 二 = 三(七) + 四",
    ),
)


@lru_cache(maxsize=None)  # one object per shape: what is made once per shape (`Shape.refs`) is made once
def applications_shape(variant: TemplateId, with_subtotal: bool) -> Shape:
    columns = APPLICANT_COLUMNS + ((SUBTOTAL_COLUMN,) if with_subtotal else ()) + (TOTAL_COLUMN,)
    return Shape("applications", variant, _T3_HEAD + _T3_OTHER[variant] + _T3_TAIL, columns, APPLICATIONS_IDENTITIES)


def _applications_detected(text: str) -> Shape:
    """表三's shape from its label text: its (六) rows, and 小计 in the header before its first row."""
    variant = "2021" if re.search(APPLICATIONS_2021_MARKER, text) else "2019"
    header_end = re.search(_T3_HEAD[0].anchor, text)
    header = text[: header_end.start()] if header_end else text
    return applications_shape(variant, re.search(SUBTOTAL_MARKER, header) is not None)


# --- 表四 政府信息公开行政复议、行政诉讼情况 -------------------------------------------------

REVIEW_COLUMNS = (
    Column("upheld", "结果维持"),
    Column("corrected", "结果纠正"),
    Column("other", "其他结果"),
    Column("pending", "尚未审结"),
    Column("total", "总计"),
)
REVIEW_ROWS = (
    Row("administrative_review", "行政复议", r"行政复议"),
    Row("lawsuit_direct", "行政诉讼·未经复议直接起诉", r"未经复议"),
    Row("lawsuit_after_review", "行政诉讼·复议后起诉", r"复议后起诉"),
)
REVIEWS_IDENTITIES = (
    SumIdentity(
        "T4-total", "reviews_and_lawsuits", "row", ("total",),
        ("upheld", "corrected", "other", "pending"), "总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结",
    ),
)
REVIEWS_SHAPE = Shape("reviews_and_lawsuits", "2021", REVIEW_ROWS, REVIEW_COLUMNS, REVIEWS_IDENTITIES)


@lru_cache(maxsize=None)
def active_disclosure_shape(variant: TemplateId) -> Shape:
    return Shape("active_disclosure", variant, ACTIVE_DISCLOSURE_ROWS[variant], ())


def _active_disclosure_detected(text: str) -> Shape | None:
    """表二's shape from its header words; None when they do not tell (the report's template decides)."""
    return next(
        (active_disclosure_shape(v) for v, marker in ACTIVE_DISCLOSURE_MARKERS.items() if re.search(marker, text)),
        None,
    )


# --- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstRows:
    """A table found by its own rows wherever it is printed: its first row's label with the
    second's close after it (a 一、本年新收 in prose has no 二、上年结转 within `within` tokens),
    and its last row, whose values end it when no table follows."""

    first: str  # regexes on normalised text, like row anchors
    then: str
    last: str
    within: int = 60
    header_reach: int = 80  # how far before the first row its header words are looked for


@dataclass(frozen=True)
class Table:
    """Everything the pipeline knows of one table. A template's tables are located around the one
    found by its rows (`found_by`): those after it each from the one before, those before it each
    up to the one after; each table ends where the next one found begins."""

    key: str
    number: str  # 表二 …
    title: str
    heading: str  # regex for the section heading
    required: bool  # a report without it needs review (表二 may legitimately be prose)
    shapes: tuple[Shape, ...]  # every shape it can take, in schema order
    # The shape its label text shows; None where the text does not tell (the report's template
    # decides). Without `detect` a table has one shape.
    detect: Callable[[str], Shape | None] | None = None
    # How strongly its shape tells the report's template: "strong" before the cited 通知, "weak"
    # after it, None not at all.
    evidence: Literal["strong", "weak"] | None = None
    header: str | None = None  # where it begins when no heading is printed: its header words
    found_by: FirstRows | None = None
    ends: str | None = None  # headings that end it when no table follows it (else the text's end)
    read: Literal["rows", "one_row"] = "rows"  # by row labels, or every cell as one printed row (表四)
    printed: str = "rows"  # its printed layout, a key of gxllm.review.printed.LAYOUTS

    def default_shape(self, variant: str | None) -> Shape:
        """Its shape where the table itself does not tell: the first of the variant."""
        return next((s for s in self.shapes if s.variant == variant), self.shapes[0])


# The sections after the tables (五、存在的主要问题…, 六、其他需要报告的事项) end 表四.
LATER_SECTIONS = r"^(?:[五六七八]、|\([五六七八]\))|存在的主要问题|其他需要报告|改进情况"

TABLES = (
    Table(
        "active_disclosure", "表二", "主动公开政府信息情况", r"主动公开政府信息情况", False,
        tuple(active_disclosure_shape(v) for v in TEMPLATES), _active_disclosure_detected, "strong",
        header=r"第二十条", printed="article_groups",
    ),
    Table(
        "applications", "表三", "收到和处理政府信息公开申请情况", r"收到和处理政府信息公开申请", True,
        tuple(applications_shape(v, s) for v in TEMPLATES for s in (False, True)), _applications_detected, "weak",
        header=r"勾稽关系|钩稽关系|申请人情况",
        found_by=FirstRows(_T3_HEAD[0].anchor, _T3_HEAD[1].anchor, _T3_TAIL[-1].anchor),
        printed="applicants",
    ),
    Table(
        "reviews_and_lawsuits", "表四", "政府信息公开行政复议、行政诉讼情况", r"行政复议.{0,3}行政诉讼", True,
        (REVIEWS_SHAPE,), header=r"^行政复议", ends=LATER_SECTIONS, read="one_row", printed="one_row",
    ),
)

# Citations of the 通知 that tell the template when no table says it.
TEMPLATE_CITATIONS: dict[str, str] = {"2021": r"2021\D{0,3}30号", "2019": r"2019\D{0,3}60号"}


# --- identities -----------------------------------------------------------------------------

COUNTS_IDENTITY = "counts"


@dataclass(frozen=True)
class CarryIdentity:
    """Cells that carry over from one year's report to the next one of the same agency: `row` of
    year N equals `next_row` of year N+1, column by column (where both are printed)."""

    table: str
    row: str  # year N: 四、结转下年度继续办理
    next_row: str  # year N+1: 二、上年结转
    columns: tuple[Column, ...]
    row_name: str  # how the finding names each row
    next_row_name: str


CARRY_IDENTITIES = (
    CarryIdentity(
        "applications", "carried_forward", "carried_over", APPLICANT_COLUMNS + (SUBTOTAL_COLUMN, TOTAL_COLUMN),
        "四、结转下年度继续办理", "二、上年结转",
    ),
)


@dataclass(frozen=True)
class SumInstance:
    """One instance of a sum identity: sum(lhs cells) == sum(rhs cells), along the row or column
    named `where`. Cells are (row key, column key) pairs; the digit splitter uses column indices."""

    identity: str
    where: str
    lhs: tuple
    rhs: tuple
    refs: tuple[CellRef, ...] = ()  # the cells of the table, lhs then rhs (table instances)

    @property
    def cells(self) -> tuple:
        return self.lhs + self.rhs

    @property
    def name(self) -> str:
        return f"{self.identity} {self.where}"

    def sides(self, value) -> tuple[float, float]:
        """Both sums, `value(cell)` giving each cell (a blank read as 0)."""
        left = right = 0  # loops, not sum() over generators: every instance of every report runs this
        for cell in self.lhs:
            left += value(cell) or 0
        for cell in self.rhs:
            right += value(cell) or 0
        return left, right

    def holds(self, value) -> bool:
        return _sums_equal(*self.sides(value))

    def holds_in(self, values) -> bool:
        """`holds` over a table's values (row -> column -> value), its cells (row, column) pairs:
        indexed here, not through a function per cell (every instance of every report)."""
        left = right = 0
        for row, column in self.lhs:
            left += values[row][column] or 0
        for row, column in self.rhs:
            right += values[row][column] or 0
        return _sums_equal(left, right)


def _sums_equal(left: float, right: float) -> bool:
    return abs(left - right) < 1e-6 * max(1.0, abs(left), abs(right))


def _instance(table: str, identity: str, where: str, lhs: list, rhs: list) -> SumInstance:
    return SumInstance(identity, where, tuple(lhs), tuple(rhs), tuple(CellRef(table, r, c) for r, c in lhs + rhs))


# --- the template the pipeline runs on -------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """The unit the pipeline runs on: its tables in printed order, the 通知 citations that name a
    variant and the cells that carry over from year to year. Adding a table is adding a `Table`."""

    tables: tuple[Table, ...]
    citations: tuple[tuple[str, str], ...] = ()  # (variant, regex)
    carries: tuple[CarryIdentity, ...] = ()

    def table(self, key: str) -> Table:
        found = next((t for t in self.tables if t.key == key), None)
        if found is None:
            raise TemplateError(f"no table {key!r} in the template (tables: {', '.join(t.key for t in self.tables)})")
        return found

    @property
    def identities(self) -> tuple[SumIdentity, ...]:
        """Every sum identity over its tables, in table order."""
        return tuple(dict.fromkeys(i for t in self.tables for s in t.shapes for i in s.identities))

    def shapes_of(self, table: str) -> tuple[Shape, ...]:
        """Every shape a table can take, for the schema and for label lookups."""
        return self.table(table).shapes

    def shape_for(
        self, table: str, variant: str | None, row_keys: set[str] = frozenset(), column_keys: set[str] = frozenset()
    ) -> Shape:
        """The declared shape a result's table has (by its variant, rows and columns)."""
        candidates = self.shapes_of(table)
        return next(
            (
                s
                for s in candidates
                if (variant is None or s.variant == variant or len(candidates) == 1)
                and (not row_keys or row_keys == {r.key for r in s.rows})
                and (not column_keys or not s.columns or column_keys == {c.key for c in s.columns})
            ),
            candidates[0],
        )


NATIONAL = Template(TABLES, tuple(TEMPLATE_CITATIONS.items()), CARRY_IDENTITIES)
shapes_of = NATIONAL.shapes_of
shape_for = NATIONAL.shape_for
