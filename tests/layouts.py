"""Render a canonical (gold-like) report dict into the layouts real scraped reports arrive in.

Every row/column label comes from ``gxllm.template`` and every printed grid from
``gxllm.review.printed``; this module only knows the layouts they arrive in. The renderers return the whole report: title, prose, the section headings and the tables.

    render_pipe_cells(report)        one cell per line, trailing " |", "|||" filler lines
    render_blank_separated(report)   one cell per line, blank lines between, blanks as "—"
    render_pipe_rows(report)         one table row per line, " | " separators, "|||" filler
    render_markdown(report)          markdown tables
    render_html(report, encoding)    bytes: <table> grids with rowspan/colspan
    render_pdf_layout(report)        imitation of ``pdftotext -layout``
    render_flattened(report)         a crawler's flattening: every cell of a table run together
    render_flattened_html(report)    the same, each table flattened into one <p>

``sample_report(seed)`` / ``sample_report_2019(seed)`` build consistent reports to render.
"""

from __future__ import annotations

import copy
import html
import random
from dataclasses import dataclass

from gxllm.review import printed
from gxllm.review.printed import INFO_CONTENT, NOTE, printed_rows
from gxllm.template import (
    AMOUNT_UNIT_KEY,
    APPLICANT_COLUMNS,
    APPLICANTS_HEADING,
    ORGANISATION_COLUMNS,
    ORGANISATION_GROUP,
    REVIEWS_SHAPE,
    SUBTOTAL_COLUMN,
    TABLES,
    TOTAL_COLUMN,
    Shape,
    active_disclosure_shape,
    applications_shape,
)

# --- printed text that is not a row/column label ---------------------------------------------

HEADINGS = {
    "overview": "一、总体情况",
    **{t.key: f"{n}、{t.title}" for n, t in zip("二三四", TABLES)},
    "problems": "五、存在的主要问题及改进情况",
    "other": "六、其他需要报告的事项",
}
ABSENT_PROSE = {
    "active_disclosure": "本年度通过政府网站主动公开各类政府信息共计41条。",
    "applications": "本年度未收到政府信息公开申请。",
    "reviews_and_lawsuits": "本年度未产生政府信息公开行政复议、行政诉讼。",
}
BLANK_MARK = "—"  # how render_blank_separated prints a blank cell
_FW = str.maketrans({"(": "（", ")": "）", ":": "：", ",": "，"})


def fw(text: str) -> str:
    """Full-width punctuation, as PDFs and Word-made HTML print it."""
    return text.translate(_FW)


def fmt(value) -> str:
    """A cell value as printed; None is the empty string."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


# --- shapes -----------------------------------------------------------------------------------


def _template(report: dict) -> str:
    return (report.get("report") or {}).get("template") or "2021"


def active_disclosure_variant(report: dict) -> str:
    ad = report.get("active_disclosure") or {}
    if "newly_made" in (ad.get("regulations") or {}) or "government_procurement" in ad:
        return "2019"
    if "issued" in (ad.get("regulations") or {}):
        return "2021"
    return _template(report)


def applications_shape_of(report: dict) -> Shape:
    """The 表三 shape the report's own keys describe (other_* sub-rows vs other_processing)."""
    app = report.get("applications") or {}
    if any(k in app for k in ("other_no_correction", "other_unpaid_fee", "other_misc")):
        variant = "2021"
    elif "other_processing" in app:
        variant = "2019"
    else:
        variant = _template(report)
    subtotal = any(SUBTOTAL_COLUMN.key in (row or {}) for row in app.values())
    return applications_shape(variant, subtotal)


# --- grids (what an HTML table holds) ------------------------------------------------------------


@dataclass
class G:
    text: str
    rowspan: int = 1
    colspan: int = 1
    value: bool = False


Grid = tuple[int, list[list[G]]]  # (width in grid columns, rows of cells)


def _filled(grid: printed.Grid, values: dict) -> Grid:
    """The printed grid with each value cell holding its value as printed."""
    width, rows = grid
    return width, [
        [G(fmt((values.get(c.cell[0]) or {}).get(c.cell[1])), c.rowspan, c.colspan, True) if c.cell else
         G(c.text, c.rowspan, c.colspan) for c in row]
        for row in rows
    ]  # fmt: skip


def t2_grid(report: dict) -> Grid:
    values = report.get("active_disclosure") or {}
    unit = next((r[AMOUNT_UNIT_KEY] for r in values.values() if AMOUNT_UNIT_KEY in (r or {})), None)
    shape = active_disclosure_shape(active_disclosure_variant(report))
    return _filled(printed.grid(shape, unit), values)


def t3_grid(report: dict) -> Grid:
    return _filled(printed.grid(applications_shape_of(report)), report.get("applications") or {})


def t4_grid(report: dict) -> Grid:
    return _filled(printed.grid(REVIEWS_SHAPE), report.get("reviews_and_lawsuits") or {})


GRIDS = {"active_disclosure": t2_grid, "applications": t3_grid, "reviews_and_lawsuits": t4_grid}


def placed(grid: Grid) -> list[tuple[int, int, G]]:
    """(row, column, cell) of every printed cell: a cell skips the columns rows above span into."""
    taken: set[tuple[int, int]] = set()
    out = []
    for y, row in enumerate(grid[1]):
        x = 0
        for cell in row:
            while (y, x) in taken:
                x += 1
            out.append((y, x, cell))
            taken.update((y + dy, x + dx) for dy in range(cell.rowspan) for dx in range(cell.colspan))
            x += cell.colspan
    return out


def expand(grid: Grid) -> list[list[str]]:
    """The grid as a full matrix; cells covered by a span are ''."""
    width, rows = grid
    out = [[""] * width for _ in rows]
    for y, x, cell in placed(grid):
        out[y][x] = cell.text
    return out


# --- the report around the tables ---------------------------------------------------------------


def _parts(report: dict) -> list[tuple[str, str]]:
    """(kind, text) in document order; kind is title/para/heading/table."""
    meta = report.get("report") or {}
    agency = meta.get("agency") or "某某市某某局"
    year = meta.get("year") or 2024
    received = ((report.get("applications") or {}).get("new_received") or {}).get("total")
    got = f"全年共收到政府信息公开申请{received}件，" if received is not None else ""
    absent = set(report.get("tables_absent") or ())
    parts = [
        ("title", f"{agency}{year}年度政府信息公开工作年度报告"),
        ("para", f"本报告由{agency}根据《中华人民共和国政府信息公开条例》（以下简称《条例》）规定编制。"
                 f"报告所列统计期限自{year}年1月1日至{year}年12月31日。"),
        ("heading", HEADINGS["overview"]),
        ("para", f"{year}年，{agency}认真贯彻落实《条例》各项规定，坚持以公开为常态、不公开为例外，"
                 f"{got}均在法定期限内予以答复。"),
    ]
    for t in TABLES:
        parts.append(("heading", HEADINGS[t.key]))
        parts.append(("para", ABSENT_PROSE[t.key]) if t.key in absent else ("table", t.key))
    parts += [
        ("heading", HEADINGS["problems"]),
        ("para", "一是政策解读质量仍需提升；二是政务公开队伍建设还需进一步加强。下一步将持续完善工作机制。"),
        ("heading", HEADINGS["other"]),
        ("para", "无。"),
        ("para", agency),
        ("para", f"{year + 1}年1月20日"),
    ]
    return parts


def _text_report(report: dict, table, sep: str = "\n") -> str:
    out = []
    for kind, text in _parts(report):
        out.append(table(GRIDS[text](report)) if kind == "table" else text)
    return sep.join(out) + "\n"


# --- text layouts -------------------------------------------------------------------------------


def render_pipe_cells(report: dict) -> str:
    """One cell per line with a trailing ' |'; '|||' filler lines where merged cells were."""

    def table(grid: Grid) -> str:
        width, rows = grid
        lines = []
        for row in rows:
            lines += [f"{c.text} |" if c.text else "|" for c in row]
            if width > len(row):
                lines.append("|" * (width - len(row)))
        return "\n".join(lines)

    return _text_report(report, table)


def render_blank_separated(report: dict) -> str:
    """One cell per line, blank lines between, no separators; a blank cell is a line '—'."""

    def table(grid: Grid) -> str:
        return "\n\n".join(c.text or BLANK_MARK for row in grid[1] for c in row)

    return _text_report(report, table, sep="\n\n")


def render_pipe_rows(report: dict) -> str:
    """One table row per line, ' | ' between cells, '|||' filler for the merged cells."""

    def table(grid: Grid) -> str:
        width, rows = grid
        lines = []
        for row in rows:
            line = " | ".join(c.text for c in row) + " |"
            if width > len(row):
                line += " " + "|" * (width - len(row))
            lines.append(line)
        return "\n".join(lines)

    return _text_report(report, table)


def render_markdown(report: dict) -> str:
    """Markdown tables (first grid row as the header row, cells under a span left empty)."""

    def table(grid: Grid) -> str:
        matrix = expand(grid)
        lines = ["| " + " | ".join(row) + " |" for row in matrix]
        lines.insert(1, "|" + "---|" * grid[0])
        return "\n".join(lines)

    out = []
    for kind, text in _parts(report):
        if kind == "table":
            out.append(table(GRIDS[text](report)))
        else:
            out.append({"title": "# ", "heading": "## "}.get(kind, "") + text)
    return "\n\n".join(out) + "\n"


def _flattened_table(grid: Grid, rng: random.Random, spaces: float, broken_labels: float) -> str:
    """A table's cells run together: labels glued to numbers, numbers to numbers, numbering to the
    previous row's digits, a blank cell printed as nothing; a stray space at some real cell
    boundaries and inside some labels (never inside a number)."""
    out = []
    for row in grid[1]:
        for c in row:
            text = c.text
            if not c.value and len(text) > 3 and rng.random() < broken_labels:
                cjk = [i for i in range(1, len(text)) if "\u4e00" <= text[i - 1] <= "\u9fff" and "\u4e00" <= text[i] <= "\u9fff"]
                if cjk:
                    at = rng.choice(cjk)
                    text = text[:at] + " " + text[at:]
            out.append(text)
            if c.value and c.text and rng.random() < spaces:
                out.append(" ")
    return "".join(out)


def render_flattened(
    report: dict, *, seed: int = 0, one_line: bool = False, spaces: float = 0.15, broken_labels: float = 0.2
) -> str:
    """What a crawler that dropped every separator saved: each table on one line, its cells run
    together (``one_line``: the whole report, prose and tables, on a single line)."""
    rng = random.Random(seed)
    return _text_report(report, lambda grid: _flattened_table(grid, rng, spaces, broken_labels), "" if one_line else "\n")


def render_flattened_html(report: dict, *, seed: int = 0) -> bytes:
    """A page whose tables were flattened into one <p> each (a CMS that pasted the table's text)."""
    rng = random.Random(seed)
    body = []
    for kind, text in _parts(report):
        if kind == "table":
            text = _flattened_table(GRIDS[text](report), rng, 0.15, 0.2)
        body.append(f'<p style="text-indent:2em">{html.escape(text)}</p>')
    page = '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n</head>\n<body>\n' + "\n".join(body) + "\n</body>\n</html>\n"
    return page.encode("utf-8")


# --- HTML -------------------------------------------------------------------------------------


def render_html(report: dict, encoding: str = "utf-8", *, split_runs: bool = False) -> bytes:
    """A page with real <table> grids (rowspan/colspan), cells as <p><span>, blanks as &nbsp;.

    ``split_runs`` splits multi-digit numbers over two <span> runs, as Word's HTML does.
    """
    span = '<span style="font-family:宋体;font-size:14px">'

    def cell(c: G) -> str:
        attrs = "".join(f' {k}="{v}"' for k, v in (("rowspan", c.rowspan), ("colspan", c.colspan)) if v > 1)
        if not c.text:
            inner = f"{span}&nbsp;</span>"
        elif c.value and split_runs and len(c.text) > 1:
            inner = f"{span}{html.escape(c.text[:1])}</span>{span}{html.escape(c.text[1:])}</span>"
        else:
            inner = f"{span}{html.escape(fw(c.text))}</span>"
        return f'<td{attrs} valign="center"><p style="text-align:center">{inner}</p></td>'

    def table(grid: Grid) -> str:
        trs = "\n".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in grid[1])
        return f'<table border="1" cellspacing="0" cellpadding="0" style="border-collapse:collapse">\n<tbody>\n{trs}\n</tbody>\n</table>'

    charset = {"utf-8-sig": "utf-8"}.get(encoding.lower(), encoding)
    title = _parts(report)[0][1]
    body = []
    for kind, text in _parts(report):
        if kind == "table":
            body.append(table(GRIDS[text](report)))
        elif kind == "title":
            body.append(f'<h1 class="title">{html.escape(text)}</h1>')
        elif kind == "heading":
            body.append(f'<p style="text-indent:2em"><strong>{html.escape(text)}</strong></p>')
        else:
            body.append(f'<p style="text-indent:2em">{span}{html.escape(text)}</span></p>')
    page = (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="{charset}">\n<title>{html.escape(title)}</title>\n'
        '</head>\n<body>\n<div class="article-content">\n' + "\n".join(body) + "\n</div>\n</body>\n</html>\n"
    )
    return page.encode(encoding, errors="xmlcharrefreplace")


# --- pdftotext -layout ------------------------------------------------------------------------


class _Canvas:
    """Lines of characters; text is put at character offsets (a CJK character is one)."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def line(self, n: int = 1) -> int:
        for _ in range(n):
            self.rows.append([])
        return len(self.rows) - 1

    def put(self, y: int, x: int, text: str) -> None:
        x, row = max(0, x), self.rows[y]
        if len(row) < x + len(text):
            row.extend(" " * (x + len(text) - len(row)))
        row[x : x + len(text)] = text

    def text(self) -> str:
        return "\n".join("".join(r).rstrip() for r in self.rows)


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def _stack(label: str) -> list[str]:
    """A column header printed over several lines (商业/企业, 社会/公益/组织)."""
    if len(label) <= 3:
        return [label]
    return _wrap(label, 2 if len(label) <= 6 else 3)


def _center(x0: int, width: int, text: str) -> int:
    return x0 + (width - len(text)) // 2


def _pdf_t2(report: dict) -> str:
    width, rows = t2_grid(report)
    lx, cw = 18, 16
    cv = _Canvas()
    for row in rows:
        if len(row) == 1:
            cv.line(2)
            cv.put(cv.line(), 14, fw(row[0].text))
            cv.line()
            continue
        y = cv.line()
        first = row[0]
        cv.put(y, _center(0, lx, first.text) if first.text == INFO_CONTENT else 0, first.text)
        for i, c in enumerate(row[1:]):
            text = fw(c.text)
            cv.put(y, _center(lx + i * cw, cw, text), text)
        cv.line()
    return cv.text()


def _pdf_t3(report: dict, page_shift: int) -> str:
    app = report.get("applications") or {}
    shape = applications_shape_of(report)
    cols = shape.columns
    vx, cw = 34, 8
    lx = (0, 6, 14)
    cv = _Canvas()
    cv.put(cv.line(), _center(vx, cw * len(cols), APPLICANTS_HEADING), APPLICANTS_HEADING)
    cv.line()
    note = fw(NOTE)
    cut = note.index("等于")
    orgs = [i for i, c in enumerate(cols) if c.key not in (APPLICANT_COLUMNS[0].key, TOTAL_COLUMN.key)]
    y = cv.line()
    cv.put(y, 0, note[:cut])
    cv.put(y, _center(vx + orgs[0] * cw, cw * len(orgs), ORGANISATION_GROUP), ORGANISATION_GROUP)
    cv.put(cv.line(), 0, note[cut:])
    stacks = [_stack(c.label) for c in cols]
    height = max(map(len, stacks))
    top = cv.line(height) - height + 1
    for i, pieces in enumerate(stacks):
        off = (height - len(pieces)) // 2
        for j, piece in enumerate(pieces):
            cv.put(top + off + j, _center(vx + i * cw, cw, piece), piece)
    cv.line()

    printed = printed_rows(shape)
    footer_after = next((p.row.key for p, q in zip(printed, printed[1:]) if q.group and q.group != p.group
                         and p.group and q.group.startswith("(四)")), None)
    shift = 0
    block_spacers: list[tuple[int, int]] = []  # (line, shift)
    group_spacers: dict[str, list[tuple[int, int]]] = {}
    group_first: dict[str, tuple[int, int]] = {}
    for i, p in enumerate(printed):
        values = [fmt((app.get(p.row.key) or {}).get(c.key)) for c in cols]
        level = 0 if p.block is None else (1 if p.group is None else 2)
        parts = _wrap(fw(p.label), (30, 20, 14)[level])
        x = lx[level] + shift
        if len(parts) == 1:
            y = vy = cv.line()
            cv.put(y, x, parts[0])
        elif len(parts) == 2:  # label / numbers / rest of label
            y = cv.line()
            cv.put(y, x, parts[0])
            vy = cv.line()
            cv.put(cv.line(), x, parts[1])
        else:  # label / label + numbers / rest
            y = cv.line()
            cv.put(y, x, parts[0])
            vy = cv.line()
            cv.put(vy, x, parts[1])
            for part in parts[2:]:
                cv.put(cv.line(), x, part)
        for j, v in enumerate(values):
            cv.put(vy, _center(vx + j * cw, cw, v) + shift, v)
        if p.group and p.group not in group_first:
            group_first[p.group] = (y, shift)
        if p.row.key == footer_after:
            cv.line(2)
            cv.put(cv.line(), 0, "-4-")
            shift = page_shift
            continue
        if i + 1 < len(printed):
            sy = cv.line()
            nxt = printed[i + 1]
            if p.block and nxt.block:
                block_spacers.append((sy, shift))
            if p.group and nxt.group == p.group:
                group_spacers.setdefault(p.group, []).append((sy, shift))
    used: set[int] = set()
    for group, (fy, fshift) in group_first.items():
        label, spacers = fw(group), group_spacers.get(group, [])
        if len(spacers) < 2:  # group label on the line of its first sub-row
            cv.put(fy, lx[1] + fshift, label)
            continue
        mid = (len(spacers) - 2) // 2
        for (sy, sshift), piece in zip(spacers[mid : mid + 2], (label[:4], label[4:])):
            cv.put(sy, lx[1] + sshift, piece)
            used.add(sy)
    block = next((p.block for p in printed if p.block), None)
    if block:
        tokens = [block[:2]] + list(block[2:])  # 三、 / 本 / 年 / …
        free = [s for s in block_spacers if s[0] not in used]
        spots = free if len(free) >= len(tokens) else block_spacers
        step = len(spots) / len(tokens)
        for k, token in enumerate(tokens):
            sy, sshift = spots[min(len(spots) - 1, int(k * step + step / 2))]
            cv.put(sy, sshift, token)
    return cv.text()


def _pdf_t4(report: dict) -> str:
    width, rows = t4_grid(report)
    cw = 6
    n = len(REVIEWS_SHAPE.columns)
    cv = _Canvas()
    y = cv.line()
    for k, c in enumerate(rows[0]):
        cv.put(y, _center(k * n * cw, c.colspan * cw, c.text), c.text)
    cv.line()
    y = cv.line()
    for k, c in enumerate(rows[1][n:]):
        cv.put(y, _center((k + 1) * n * cw, n * cw, c.text), c.text)
    cv.line()
    stacks = [_stack(c.label) for c in REVIEWS_SHAPE.columns] * 3
    height = max(map(len, stacks))
    top = cv.line(height) - height + 1
    for i, pieces in enumerate(stacks):
        for j, piece in enumerate(pieces):
            cv.put(top + j, _center(i * cw, cw, piece), piece)
    cv.line(2)
    y = cv.line()
    for i, c in enumerate(rows[3]):
        cv.put(y, _center(i * cw, cw, c.text), c.text)
    return cv.text()


def render_pdf_layout(report: dict, *, page_shift: int = 0) -> str:
    """Imitate ``pdftotext -layout``: columns aligned by runs of spaces, multi-line headers,
    the vertical label 三、本年度办理结果 one character per line between rows, wrapped labels with
    their numbers on a line between the halves, and a page footer "-4-" inside 表三 (after which
    the columns move by ``page_shift`` characters, as on a new page)."""
    tables = {
        "active_disclosure": lambda: _pdf_t2(report),
        "applications": lambda: _pdf_t3(report, page_shift),
        "reviews_and_lawsuits": lambda: _pdf_t4(report),
    }
    out = []
    for kind, text in _parts(report):
        if kind == "table":
            out.append(tables[text]() + "\n")
        elif kind == "title":
            out.append(" " * 8 + text + "\n\n")
        elif kind == "heading":
            out.append("     " + text)
        else:
            lines = _wrap("   " + text, 32)
            out.append("\n".join(lines))
    return "\n".join(out) + "\n\n" + " " * 40 + "-5-\n"


# --- sample reports ----------------------------------------------------------------------------

_CITIES = ("淮安市", "通化市", "樟树市", "崇阳县", "洪江市", "河东区")
_BODIES = ("人民政府", "信访局", "自然资源和规划局", "市场监督管理局", "生态环境局", "政务服务和大数据管理局")


def _agency(rng: random.Random) -> str:
    return rng.choice(_CITIES) + rng.choice(_BODIES)


def _money(rng: random.Random, hi: float = 99999.0) -> float:
    value = round(rng.uniform(1, hi), rng.choice((1, 2, 6)))
    return value + 0.5 if float(value).is_integer() else value


def _active_disclosure(rng: random.Random, variant: str) -> dict:
    big = {"administrative_licensing": 500_000, "administrative_penalty": 4_000_000, "administrative_coercion": 100_000}
    out: dict[str, dict] = {}
    for row in active_disclosure_shape(variant).rows:
        values: dict = {}
        for col in row.columns:
            if col.kind == "money":
                values[col.key] = _money(rng)
            elif col.kind == "signed":
                values[col.key] = rng.randint(-30, 30)
            elif col.key == "decisions" and row.key == "administrative_penalty":
                values[col.key] = rng.randint(1000, big[row.key])  # always one large count
            elif col.key == "decisions":
                values[col.key] = rng.choice((0, rng.randint(1, 500), rng.randint(1000, big.get(row.key, 50_000))))
            elif col.key in ("in_force", "total_published", "prior_year_items"):
                values[col.key] = rng.randint(0, 300)
            else:
                values[col.key] = rng.randint(0, 40)
        out[row.key] = values
    return out


def _applications(rng: random.Random, variant: str) -> dict:
    shape = applications_shape(variant, False)
    results = [r.key for r in shape.rows if r.result]
    grid: dict[str, dict[str, int]] = {r.key: {} for r in shape.rows}
    for col in APPLICANT_COLUMNS:
        person = col is APPLICANT_COLUMNS[0]
        hi, p_zero, carry = (20, 0.35, 30) if person else (6, 0.7, 3)
        for key in results:
            grid[key][col.key] = 0 if rng.random() < p_zero else rng.randint(1, hi)
        processed = sum(grid[k][col.key] for k in results)
        forward = rng.randint(0, carry)
        over = rng.randint(0, min(carry, processed + forward))
        grid["total_processed"][col.key] = processed
        grid["carried_forward"][col.key] = forward
        grid["carried_over"][col.key] = over
        grid["new_received"][col.key] = processed + forward - over
    out = {}
    for row in shape.rows:
        values = {c.key: grid[row.key][c.key] for c in APPLICANT_COLUMNS}
        values[TOTAL_COLUMN.key] = sum(values.values())
        out[row.key] = values
    return out


def _reviews(rng: random.Random) -> dict:
    out = {}
    for group in REVIEWS_SHAPE.rows:
        parts = {c.key: (0 if rng.random() < 0.4 else rng.randint(1, 60)) for c in REVIEWS_SHAPE.columns if c.key != "total"}
        out[group.key] = {**parts, "total": sum(parts.values())}
    return out


def sample_report(seed: int) -> dict:
    """A consistent 2021-template report (T3-row, T3-results, T3-flow, T4-total all hold)."""
    rng = random.Random(seed)
    return {
        "schema_version": 1,
        "report": {"agency": _agency(rng), "year": rng.choice((2021, 2022, 2023, 2024)), "template": "2021"},
        "active_disclosure": _active_disclosure(rng, "2021"),
        "applications": _applications(rng, "2021"),
        "reviews_and_lawsuits": _reviews(rng),
    }


def sample_report_2019(seed: int) -> dict:
    """A consistent 2019-template report: 2019 表二 (a negative 本年增/减, 政府集中采购 with
    total_amount), 表三 with the single other_processing row."""
    rng = random.Random(seed)
    ad = _active_disclosure(rng, "2019")
    ad["administrative_licensing"]["change"] = -rng.randint(1, 30)
    ad["government_procurement"] = {"projects": rng.randint(1, 200), "total_amount": _money(rng, 5000.0)}
    return {
        "schema_version": 1,
        "report": {"agency": _agency(rng), "year": rng.choice((2019, 2020)), "template": "2019"},
        "active_disclosure": ad,
        "applications": _applications(rng, "2019"),
        "reviews_and_lawsuits": _reviews(rng),
    }


def with_subtotal(report: dict) -> dict:
    """A copy whose 表三 prints 法人或其他组织小计 (legal_person_subtotal) before 总计."""
    out = copy.deepcopy(report)
    for key, row in out["applications"].items():
        orgs = [row.get(c.key) for c in ORGANISATION_COLUMNS]
        sub = None if None in orgs else sum(orgs)
        total = row.pop(TOTAL_COLUMN.key, None)
        row[SUBTOTAL_COLUMN.key] = sub
        row[TOTAL_COLUMN.key] = total
    return out


def collapse_other(report: dict) -> dict:
    """A copy whose 表三 has the single 2019 (六)其他处理 row instead of the three other_* rows
    (the mixed shape: 2021 表二 with a collapsed 表三 row)."""
    out = copy.deepcopy(report)
    app = out["applications"]
    subs = [k for k in ("other_no_correction", "other_unpaid_fee", "other_misc") if k in app]
    if not subs:
        return out
    merged = {}
    for col in app[subs[0]]:
        parts = [app[k].get(col) for k in subs]
        merged[col] = None if None in parts else sum(parts)
    out["applications"] = {}
    for key, row in app.items():
        if key in subs:
            if key == subs[0]:
                out["applications"]["other_processing"] = merged
            continue
        out["applications"][key] = row
    return out
