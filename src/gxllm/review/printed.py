"""The tables as the national template prints them: header, label and value cells on a grid.

Derived from template.py, pure. The review page draws a report's tables from it, and the tests'
renderers print sample reports from it (HTML, PDF, Word and text layouts), so the two cannot
drift apart:

- 表二: one group per item of 第二十条 of the 条例, each a 第二十条第(一)项 line, a 信息内容
  header with its column labels, then its rows;
- 表三: a corner with the 勾稽关系 note, 申请人情况 over 自然人 | 法人或其他组织 (the five
  kinds [, 小计]) | 总计; the row labels in three columns, 三、本年度办理结果 and its groups
  ((三)不予公开 …) spanning their rows;
- 表四: 行政复议 | 行政诉讼 (未经复议直接起诉, 复议后起诉), the five column labels three times,
  one row of 15 values;
- any other table: a header of its column labels over its rows, each a label and its values.

Which layout a table has is declared in the template (`Table.printed`, a key of `LAYOUTS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import template as T

NOTE = "(本列数据的勾稽关系为:第一项加第二项之和,等于第三项加第四项之和)"
INFO_CONTENT = "信息内容"
# 表二 is printed in groups, one per item of 第二十条 of the 条例.
ARTICLE = {
    "regulations": "(一)",
    "normative_documents": "(一)",
    "administrative_licensing": "(五)",
    "other_external_services": "(五)",
    "administrative_penalty": "(六)",
    "administrative_coercion": "(六)",
    "administrative_fees": "(八)",
    "government_procurement": "(九)",
}
# Text some rows carry after their label in the printed form.
PRINTED_SUFFIX = {"partially_granted": "(区分处理的,只计这一情形,不计其他情形)"}


@dataclass
class GridCell:
    text: str = ""
    rowspan: int = 1
    colspan: int = 1
    cell: tuple[str, str] | None = None  # a value cell: (row key, column key)


Grid = tuple[int, list[list[GridCell]]]  # (width in grid columns, rows of cells)


def split_label(label: str) -> tuple[str | None, str]:
    """'(三)不予公开 1.属于国家秘密' -> ('(三)不予公开', '1.属于国家秘密'); no space -> (None, label)."""
    head, sep, tail = label.partition(" ")
    return (head, tail) if sep else (None, label)


@dataclass(frozen=True)
class PrintedRow:
    """Where a 表三 row's label is printed: block (三、本年度办理结果), group ((三)不予公开), label."""

    row: T.Row
    block: str | None
    group: str | None
    label: str


def printed_rows(shape: T.Shape) -> list[PrintedRow]:
    out: list[PrintedRow] = []
    block: str | None = None
    groups: dict[str, str] = {}
    for row in shape.rows:
        head, label = split_label(row.label)
        label += PRINTED_SUFFIX.get(row.key, "")
        if head is None:
            inside = block is not None and label.startswith("(")
            out.append(PrintedRow(row, block if inside else None, None, label))
        elif not head.startswith("("):  # "三、本年度办理结果 (一)予以公开"
            block = head
            out.append(PrintedRow(row, block, None, label))
        else:  # "(三)不予公开 1.…" or "(三) 2.…"
            prefix = head[: head.index(")") + 1]
            groups.setdefault(prefix, head)
            out.append(PrintedRow(row, block, groups[prefix], label))
    return out


def grid(shape: T.Shape, amount_unit: str | None = None, template: T.Template = T.NATIONAL) -> Grid:
    """The printed grid of a table of this shape; `amount_unit` is the unit printed after an
    amount column's label (表二 2019 政府集中采购: 元 or 万元)."""
    return LAYOUTS[template.table(shape.table).printed](shape, amount_unit)


def _column_label(column: T.Column, amount_unit: str | None) -> str:
    return column.label + (f"(单位:{amount_unit})" if column.unit_key and amount_unit else "")


def _article_groups(shape: T.Shape, amount_unit: str | None) -> Grid:
    width = 1 + max(len(r.columns) for r in shape.rows)
    rows: list[list[GridCell]] = []
    last_article = None
    for row in shape.rows:
        columns = row.columns
        pad = width - len(columns)  # the last column spans what is left
        if ARTICLE[row.key] != last_article:
            last_article = ARTICLE[row.key]
            rows.append([GridCell(f"第二十条第{last_article}项", colspan=width)])
            labels = [_column_label(c, amount_unit) for c in columns]
            head = [GridCell(INFO_CONTENT)] + [GridCell(text) for text in labels]
            head[-1].colspan = pad
            rows.append(head)
        data = [GridCell(row.label)] + [GridCell(cell=(row.key, c.key)) for c in columns]
        data[-1].colspan = pad
        rows.append(data)
    return width, rows


def _applicants(shape: T.Shape, amount_unit: str | None) -> Grid:
    columns = shape.columns
    width = 3 + len(columns)
    organisations = columns[1:-1]
    rows = [
        [GridCell(NOTE, rowspan=3, colspan=3), GridCell(T.APPLICANTS_HEADING, colspan=len(columns))],
        [
            GridCell(columns[0].label, rowspan=2),
            GridCell(T.ORGANISATION_GROUP, colspan=len(organisations)),
            GridCell(columns[-1].label, rowspan=2),
        ],
        [GridCell(c.label) for c in organisations],
    ]
    printed = printed_rows(shape)
    block_length = sum(1 for p in printed if p.block)
    seen: set[str | None] = set()
    for p in printed:
        cells: list[GridCell] = []
        if p.block is None:
            cells.append(GridCell(p.label, colspan=3))
        else:
            if p.block not in seen:
                seen.add(p.block)
                cells.append(GridCell(p.block, rowspan=block_length))
            if p.group is None:
                cells.append(GridCell(p.label, colspan=2))
            else:
                if p.group not in seen:
                    seen.add(p.group)
                    cells.append(GridCell(p.group, rowspan=sum(1 for q in printed if q.group == p.group)))
                cells.append(GridCell(p.label))
        cells += [GridCell(cell=(p.row.key, c.key)) for c in columns]
        rows.append(cells)
    return width, rows


def _one_row(shape: T.Shape, amount_unit: str | None) -> Grid:
    groups, columns = shape.rows, shape.columns
    lawsuit, direct = groups[1].label.split("·")
    after = groups[2].label.split("·")[1]
    n = len(columns)
    rows = [
        [GridCell(groups[0].label, colspan=n), GridCell(lawsuit, colspan=2 * n)],
        [GridCell(c.label, rowspan=2) for c in columns] + [GridCell(direct, colspan=n), GridCell(after, colspan=n)],
        [GridCell(c.label) for c in columns] * 2,
        [GridCell(cell=(g.key, c.key)) for g in groups for c in columns],
    ]
    return 3 * n, rows


def _rows(shape: T.Shape, amount_unit: str | None) -> Grid:
    columns = shape.columns
    head = [GridCell()] + [GridCell(_column_label(c, amount_unit)) for c in columns]
    body = [[GridCell(row.label)] + [GridCell(cell=(row.key, c.key)) for c in columns] for row in shape.rows]
    return 1 + len(columns), [head] + body


# The printed layouts a table can declare (`Table.printed`).
LAYOUTS = {"article_groups": _article_groups, "applicants": _applicants, "one_row": _one_row, "rows": _rows}
