"""The parse stage: read each located table into cells by its row labels.

Rows are recognised by their labels (template anchors), in template order, and each row
takes the values printed after its label and before the next row's label. A missing or
extra row is therefore noticed instead of shifting every later row. A row whose values
cannot be placed in its columns with certainty — too few or too many values and no
positions to align them by, or cells glued together — is left null and reported: the
rules never guess a cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .. import template as T
from ..findings import Finding, finding, say
from ..template import CellRef
from .locate import Region, Token
from .split import CANDIDATE_LIMIT, Candidate, RowSplit, solve_columns, split_row
from .validate import number

Value = int | float | None


@dataclass
class TableResult:
    key: str
    shape: T.Shape | None  # None: the table was not found
    values: dict[str, dict[str, Value]]
    lines: dict[CellRef, int] = field(default_factory=dict)  # cell -> source line
    positions: dict[CellRef, float | None] = field(default_factory=dict)  # cell -> the cell's pos in its line
    findings: list[Finding] = field(default_factory=list)
    extras: dict[str, dict[str, str]] = field(default_factory=dict)  # e.g. total_amount_unit
    split: set[CellRef] = field(default_factory=set)  # cells read by splitting glued digits

    @property
    def found(self) -> bool:
        return self.shape is not None


# Row anchors are searched in every table of every report: each compiled once.
_compiled = lru_cache(maxsize=None)(re.compile)


def _stream(tokens: list[Token], start: int, end: int) -> tuple[str, list[int]]:
    """The region's label text as one string, and for each character the token it came from."""
    parts, owners = [], []
    for i in range(start, end):
        token = tokens[i]
        if token.kind == "text" and not token.prose:
            parts.append(token.text)
            owners.extend([i] * len(token.text))
    return "".join(parts), owners


def _groups(tokens: list[Token], start: int, end: int) -> list[tuple[int, list[Token]]]:
    """Runs of value tokens; a line holding several values (a printed row) is its own run."""
    groups: list[tuple[int, list[Token]]] = []
    current: list[Token] = []
    for i in range(start, end):
        token = tokens[i]
        if token.kind != "value":
            if current:
                groups.append((i - len(current), current))
                current = []
            continue
        if current and token.line != current[-1].line and (token.values_in_line > 1 or current[-1].values_in_line > 1):
            groups.append((i - len(current), current))
            current = []
        current.append(token)
    if current:
        groups.append((end - len(current), current))
    return groups


def _blank_only(group: list[Token]) -> bool:
    for t in group:  # a loop, not all() over a generator: asked of every group of every table
        if t.value is not None or t.garbled or t.glued:
            return False
    return True


def _garbled(group: list[Token]) -> str | None:
    """Why a group cannot be read cell by cell: the texts printed among its numbers, or None."""
    texts = [t.text for t in group if t.garbled]
    return "、".join(f"「{t}」" for t in texts) if texts else None


def _trimmed(group: list[Token], width: int) -> list[Token]:
    """Drop blank filler from one end of a group that is too long, when only one end has any."""
    if len(group) <= width:
        return group
    values = list(group)
    if values[-1].value is not None:
        while len(values) > width and values[0].value is None:
            values.pop(0)
    elif values[0].value is not None:
        while len(values) > width and values[-1].value is None:
            values.pop()
    return values


def _align(group: list[Token], width: int, rows_full: list[list[Token]]) -> list[Token | None] | None:
    """Place a group's values in `width` columns, or None when that cannot be done for sure."""
    values = _trimmed(group, width)
    if len(values) == width:
        return values
    if any(t.pos is None for t in group):
        return None
    # Align by position against the nearest row printed in full (same table, nearest line):
    # grid columns for HTML and markdown, character offsets for PDF text layers.
    reference = min(
        (r for r in rows_full if all(t.pos is not None for t in r)),
        key=lambda r: abs(r[0].line - group[0].line),
        default=None,
    )
    if reference is None:
        return None
    anchors = [t.pos for t in reference]
    tolerance = min(b - a for a, b in zip(anchors, anchors[1:])) / 2 if width > 1 else 1.0
    placed: list[Token | None] = [None] * width
    taken = [False] * width
    for token in group:
        if token.value is None and not anchors[0] - tolerance < token.pos < anchors[-1] + tolerance:
            continue  # a covered or filler cell outside the value columns
        column = min(range(width), key=lambda c: abs(anchors[c] - token.pos))
        if abs(anchors[column] - token.pos) >= tolerance or taken[column]:
            return None
        taken[column] = True
        placed[column] = token if token.value is not None else None
    return placed if any(placed) else None


def _header_unit(text: str, label: str) -> str | None:
    """The unit printed with a column's header: 采购总金额(万元), 采购总金额(单位:元)."""
    match = re.search(re.escape(label) + r"\(?(?:单位:?)?(万元|元)", text)
    return match.group(1) if match else None


def _describe(group: list[Token]) -> str:
    return " ".join(t.text or "□" for t in group)


def parse_table(spec: T.Table, shape: T.Shape, tokens: list[Token], region: Region) -> TableResult:
    """Read one table whose shape is known by its row labels; values null where a row could not be read."""
    table = spec.key
    result = TableResult(table, shape, shape.empty_values())
    text, owners = _stream(tokens, region.start, region.end)
    row_starts: dict[str, int] = {}
    offset = 0
    for row in shape.rows:
        match = _compiled(row.anchor).search(text, offset)
        if match is None:
            continue
        row_starts[row.key] = owners[match.start()]
        offset = match.end()
    groups = _groups(tokens, region.start, region.end)
    blank = [_blank_only(group) for _, group in groups]
    found = sorted(row_starts.items(), key=lambda kv: kv[1])
    claimed: set[int] = set()
    assigned: dict[str, list[Token]] = {}
    # Each row takes the first group of values between its label and the next row's. Rows and
    # groups are both in printed order, so one pass over the groups serves every row.
    g = 0
    for n, (row_key, start) in enumerate(found):
        stop = found[n + 1][1] if n + 1 < len(found) else region.end
        while g < len(groups) and groups[g][0] <= start:
            g += 1
        for k in range(g, len(groups)):
            if groups[k][0] >= stop:
                break
            if not blank[k]:
                claimed.add(k)
                assigned[row_key] = groups[k][1]
                break
    glued_rows = {key: group for key, group in assigned.items() if any([t.glued for t in group])}
    width = len(shape.columns)
    full_rows = [t for t in (_trimmed(g, width) for g in assigned.values()) if width and len(t) == width]

    for row in shape.rows:
        columns = shape.columns_of(row)
        refs = shape.refs[row.key]
        cells = list(refs)
        if row.key not in row_starts:
            result.findings.append(finding("missing", cells, number=spec.number, label=row.label))
            continue
        group = assigned.get(row.key)
        if row.key in glued_rows:
            continue
        if group is None:
            label = tokens[row_starts[row.key]].text
            glued = re.search(r"\d{4,}", label)
            if glued:
                result.findings.append(finding("unreadable", cells, variant="glued", label=row.label, run=glued.group()))
            else:
                result.findings.append(finding("unreadable", cells, variant="empty", label=row.label))
            continue
        garbled = _garbled(group)
        placed = None if garbled else _align(group, len(columns), full_rows if not row.columns else [])
        if garbled:
            result.findings.append(finding("unreadable", cells, variant="garbled", label=row.label, texts=garbled))
            continue
        if placed is None:
            result.findings.append(
                finding("unreadable", cells, variant="unaligned", label=row.label, count=len(group), seen=_describe(group),
                        width=len(columns))  # fmt: skip
            )
            continue
        read = result.values[row.key]
        for column, token, cell in zip(columns, placed, refs):
            if token is not None:
                read[column.key] = token.value
                result.lines[cell] = token.line
                result.positions[cell] = token.pos
                if column.unit_key:
                    unit = token.unit or _header_unit(text, column.label)
                    if unit:
                        result.extras.setdefault(row.key, {})[column.unit_key] = unit

    if glued_rows:
        _read_glued(result, glued_rows, spec.number)

    # Numbers before the first row label are prose or header debris (`2024 年` in a PDF line).
    first_row = min(row_starts.values(), default=region.end)
    stray = [
        group for g, (start, group) in enumerate(groups)
        if g not in claimed and start > first_row and not blank[g]
    ]
    if stray:
        result.findings.append(finding("unassigned", [], number=spec.number, seen="; ".join(_describe(g) for g in stray)))
    unread = {c for f in result.findings if f.kind == "unreadable" for c in f.cells}
    blanks = [
        cell
        for r in shape.rows
        if r.key in assigned
        for read in (result.values[r.key],)
        for cell in shape.refs[r.key]
        if read[cell.column] is None and cell not in unread
    ]
    _note_blanks(result, blanks)
    return result


def _note_blanks(result: TableResult, blanks: list[CellRef]) -> None:
    if blanks:
        result.findings.append(finding("blank", blanks, count=len(blanks)))


# --- tables flattened into running text -------------------------------------------------------


def _pieces(group: list[Token]) -> list[str | None]:
    """What the splitter reads of a row: its runs as printed, None for a printed blank mark."""
    return [t.text if t.glued or t.value is not None else None for t in group]


def shown_split(candidate) -> str:
    """Cells as one split of glued digits is shown: 217|1|0, a blank as □."""
    return "|".join("□" if v is None else number(v) for v in candidate)


def _within(instances, cells: dict) -> list[T.SumInstance]:
    """The instances whose every cell is in `cells` (cell -> index), renamed to those indices."""
    return [
        T.SumInstance(i.identity, i.where, tuple(cells[c] for c in i.lhs), tuple(cells[c] for c in i.rhs))
        for i in instances
        if all(c in cells for c in i.cells)
    ]


def _unsplit(where: str, run: str, split: RowSplit, width: int, columns_failed: list[str]) -> tuple[str, dict]:
    """Why a glued row stays unread, and the facts a reviewer decides from."""
    count = len(split.candidates)
    shown = "; ".join(shown_split(c) for c in split.candidates[:5])
    if split.exhausted:
        why = "have too many possible splits to decide"
    elif not count:
        why = f"cannot be split into its {width} cells"
    else:
        ways = f"more than {CANDIDATE_LIMIT}" if count > CANDIDATE_LIMIT else str(count)
        kept = f", none keeping {', '.join(split.failing)}" if split.failing else " that keep every identity"
        why = f"split into its {width} cells in {ways} ways{kept}: {shown}{'; …' if count > 5 else ''}"
    if columns_failed:
        why += f"; no choice of the rows' splits keeps {', '.join(columns_failed)}"
    details = {"run": run, "candidates": [list(c) for c in split.candidates[:5]], "candidate_count": count}
    if split.failing:
        details["failing"] = list(split.failing)
    return say("unreadable", "split", where=where, run=run, why=why), details


def _printed_error(shape: T.Shape, instance: T.SumInstance, why: str) -> Finding:
    """An identity that fails whichever split of the glued digits is right: the source's own
    arithmetic is wrong, so it is named like any failing identity."""
    description = shape.identity(instance.identity).description
    message = say("identity", "printed", instance=instance.name, description=description, why=why)
    cells = [CellRef(shape.table, r, c) for r, c in instance.cells]
    return Finding("identity", cells, message, identity=instance.identity)


def _printed_errors(shape: T.Shape, instances, split: RowSplit, label: str, run: str) -> list[Finding]:
    """The identities every split of an unread glued row breaks."""
    why = f"in every split of the glued digits 「{run}」 of 「{label}」"
    return [_printed_error(shape, i, why) for i in instances if i.name in split.broken]


def _run_text(pieces: list[str | None]) -> str:
    """A row's glued digits as the findings show them: a printed blank mark as □."""
    return " ".join("□" if p is None else p for p in pieces if p != "")


def _fill(result: TableResult, cells: list[tuple[T.Row, T.Column]], values: Candidate, line: int) -> list[CellRef]:
    """Put the one surviving split into the table; its cells."""
    refs = [CellRef(result.key, r.key, c.key) for r, c in cells]
    for (row, column), ref, value in zip(cells, refs, values):
        result.values[row.key][column.key] = value
        if value is not None:
            result.lines[ref] = line
    result.split.update(refs)
    return refs


def _read_glued(result: TableResult, glued: dict[str, list[Token]], title: str) -> None:
    """Read the rows whose digits are glued together: each row by its own identities, the rows
    left ambiguous by the column identities, and only a split that is the only one survives."""
    shape, table = result.shape, result.key
    instances = shape.sum_instances
    splits: dict[str, RowSplit] = {}
    for key, group in glued.items():
        columns = shape.columns_of(shape.row(key))
        index = {(key, c.key): n for n, c in enumerate(columns)}
        splits[key] = split_row(_pieces(group), [c.kind for c in columns], _within(instances, index))

    # Rows ambiguous alone are decided by the column identities (T3-results, T3-flow).
    index = {(r.key, c.key): (r.key, n) for r in shape.rows for n, c in enumerate(shape.columns)}
    across = [i for i in _within(instances, index) if len({row for row, _ in i.cells}) > 1]
    read = {
        r.key: tuple(result.values[r.key][c.key] for c in shape.columns)
        for r in shape.rows
        if r.key not in glued and any(c in result.lines for c in shape.refs[r.key])
    }
    fixed = read | {key: split.unique for key, split in splits.items() if split.unique is not None}
    open_rows = {
        key: split.candidates
        for key, split in splits.items()
        if split.unique is None and not split.exhausted and 1 < len(split.candidates) <= CANDIDATE_LIMIT
    }
    columns_failed: list[str] = []
    broken: list[T.SumInstance] = []
    if open_rows and across:
        solved = solve_columns(open_rows, across, fixed)
        if solved is None:
            # An instance no choice of the open rows' splits keeps is the source's own error; the
            # other identities may still decide the rows.
            broken = [
                i for i in across
                if any(r in open_rows for r, _ in i.cells) and solve_columns(open_rows, [i], fixed) is None
            ]
            kept = [i for i in across if i not in broken]
            solved = solve_columns(open_rows, kept, fixed) if broken else None
        if solved is None:
            columns_failed = sorted({i.identity for i in across})
        else:
            for key, candidates in solved.items():
                splits[key] = RowSplit(candidates, splits[key].failing)
    by_name = {i.name: i for i in instances}  # the same instance, its cells as (row, column) keys
    for instance in broken:  # named here while a row of it stays unread; else validate names it
        if any(r in splits and splits[r].unique is None for r, _ in instance.cells):
            result.findings.append(_printed_error(shape, by_name[instance.name], "whichever split of the glued rows is right"))

    decided = []
    for row in shape.rows:
        if row.key not in splits:
            continue
        split, group = splits[row.key], glued[row.key]
        columns = shape.columns_of(row)
        if split.unique is None:
            run = _run_text(_pieces(group))
            message, details = _unsplit(f"row 「{row.label}」", run, split, len(columns), columns_failed)
            result.findings.append(Finding("unreadable", list(shape.refs[row.key]), message, details=details))
            own = [i for i in instances if all(r == row.key for r, _ in i.cells)]
            result.findings += _printed_errors(shape, own, split, row.label, run)
            continue
        _fill(result, [(row, c) for c in columns], split.unique, next(t.line for t in group if t.glued))
        decided.append(row)
    if decided:
        result.findings.append(
            finding("digits_split", [c for r in decided for c in shape.refs[r.key]],
                    variant="rows", number=title, count=len(decided), rows="、".join(r.short_label for r in decided),
                    details={"table": table, "rows": [r.key for r in decided]})  # fmt: skip
        )


def _read_glued_row(result: TableResult, groups: list[list[Token]], title: str) -> None:
    """A one-row table's numbers glued into one run (表四's 15): read only by the one split that
    keeps its identities."""
    shape = result.shape
    cells = shape.cell_paths()
    pieces: list[str | None] = []
    for group in groups:
        pieces += ([""] if pieces else []) + _pieces(group)  # text between runs is a boundary
    index = {(r.key, c.key): n for n, (r, c) in enumerate(cells)}
    instances = shape.sum_instances
    split = split_row(pieces, [c.kind for _, c in cells], _within(instances, index))
    if split.unique is None:
        run = _run_text(pieces)
        message, details = _unsplit(title, run, split, len(cells), [])
        result.findings.append(Finding("unreadable", list(shape.cells), message, details=details))
        result.findings += _printed_errors(shape, instances, split, title, run)
        return
    refs = _fill(result, cells, split.unique, next(t.line for g in groups for t in g if t.glued))
    kept = ", ".join(dict.fromkeys(i.identity for i in instances))
    result.findings.append(
        finding("digits_split", refs, variant="one_row", number=title, count=len(cells), kept=kept,
                details={"table": shape.table, "rows": [r.key for r in shape.rows]})  # fmt: skip
    )
    _note_blanks(result, [ref for ref, v in zip(refs, split.unique) if v is None])


def parse_one_row(spec: T.Table, shape: T.Shape, tokens: list[Token], region: Region) -> TableResult:
    """A table printed as one row of every cell under a long header (表四: 15 numbers, sometimes
    three rows of five)."""
    result = TableResult(shape.table, shape, shape.empty_values())
    cells = list(shape.cells)
    located = [(start, g) for start, g in _groups(tokens, region.start, region.end) if not _blank_only(g)]
    groups = [g for _, g in located]
    width = len(cells)
    if any(t.glued for g in groups for t in g):
        # The numbers follow the header: digits before its last word are the heading's (年度).
        header = re.compile("|".join([c.label for c in shape.columns] + [r.anchor for r in shape.rows]))
        last_word = max((i for i in range(region.start, region.end) if tokens[i].kind == "text" and header.search(tokens[i].text)), default=region.start)
        _read_glued_row(result, [g for start, g in located if start > last_word], spec.number)
        return result
    values: list[Token | None] | None = None
    if any(_garbled(g) for g in groups):
        pass
    elif len(groups) == 1:
        values = _align(groups[0], width, [])
    elif sum(len(g) for g in groups) == width:
        values = [t for g in groups for t in g]
    if values is None:
        seen = "; ".join(_describe(g) for g in groups) or "none"
        result.findings.append(finding("unreadable", cells, variant="one_row", number=spec.number, width=width, seen=seen))
        return result
    for (row, column), cell, token in zip(shape.cell_paths(), cells, values):
        if token is not None:
            result.values[row.key][column.key] = token.value
            result.lines[cell] = token.line
            result.positions[cell] = token.pos
    _note_blanks(result, [cell for cell, t in zip(cells, values) if t is None or t.value is None])
    return result


# How each table is read (`Table.read`).
READERS = {"rows": parse_table, "one_row": parse_one_row}


def detected_shape(spec: T.Table, tokens: list[Token], region: Region) -> T.Shape | None:
    """The shape a located table's own labels show (`Table.detect`), None where they do not tell."""
    if spec.detect is None:
        return None
    return spec.detect("".join([t.text for t in tokens[region.start : region.end] if t.kind == "text" and not t.prose]))
