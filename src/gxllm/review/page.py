"""The review as one self-contained HTML page, for reviewers who open it offline on an office PC.

Pure: results and their reviews in, one HTML document out. Everything is inline (style, script,
no fonts or images), so the file works from a USB stick. Each report in review gets a section:
its tables drawn as the template prints them with the conflicting cells marked, one entry per
conflict (values, kinds, identity arithmetic, messages) and the source text with the conflicting
lines and row labels marked. The script adds filters, keys and the decisions: a reviewer types
each cell's resolved value into its entry, the page checks it as `gxllm apply` would, keeps it
in the browser's localStorage and exports the decided cells as the CSV `gxllm apply` reads.
With JavaScript off every section is visible, the index links still work, the decision forms
stay hidden and a line at the top points to review.csv instead.

The page for 1,000 reports with 100 in review must stay small and open fast, so the markup is
lean: short class names, no per-cell styles, no data blobs; the script toggles `hidden`. What
the decisions CSV needs beside the entry's own text (report id, column kind, exact current
value) is in short data attributes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape

from .. import template as T
from ..model import VALUE_KINDS, CellRef, Provenance, ReportInfo, TableReading
from ..result_json import line_range, page_range
from ..tables.normalize import needs_simplification, normalize_text
from ..tables.validate import number
from . import printed
from .conflicts import KIND_LABELS, Conflict, ReportReview, summary, template_of

STATUS_LABELS = {"ok": "通过 ok", "review": "待复核 review", "failed": "失败 failed"}

STYLE = """
[hidden]{display:none!important}
body{font:14px/1.5 "Microsoft YaHei","PingFang SC","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;
color:#111;margin:0 auto;max-width:1280px;padding:0 16px 48px}
h1{font-size:22px}h2{font-size:18px;margin:4px 0}h3{font-size:15px;margin:16px 0 4px}
code{font:12px/1.4 Consolas,"DejaVu Sans Mono",monospace;background:#f2f2f2;padding:0 3px}
.m{color:#444}.na{color:#888}.top{text-decoration:none;font-size:14px}
.kv th{text-align:left;font-weight:normal;padding-right:12px}.kv td{text-align:right}
#bar{position:sticky;top:0;z-index:1;background:#eef3fb;border:1px solid #b9c8e0;padding:6px 10px;margin:12px 0}
#bar label{margin-right:10px}#count,#done{margin-left:8px;font-weight:bold;white-space:nowrap}#dl{margin-left:8px}
#help,#nojs{background:#fffbe6;border:1px solid #e6d38a;padding:4px 10px}
kbd{border:1px solid #999;border-radius:3px;padding:0 4px;background:#fff}
/* Lay out only the reports near the viewport: a page of 100 reports opens ~5x faster. */
section.report{border-top:3px solid #333;margin-top:28px;padding-top:6px;
content-visibility:auto;contain-intrinsic-size:auto 2500px}
section.report:focus,li.c:focus{outline:3px solid #1a56db;outline-offset:2px}
.g{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
.g th,.g td{border:1px solid #888;padding:2px 6px}
.g thead th{background:#f4f4f4;font-weight:normal}
.g tbody th{text-align:left;font-weight:normal;max-width:28em}
.g td{text-align:right;min-width:2.4em;white-space:nowrap}
.g td.x{border:3px solid #c00000;background:#ffc4c4;font-weight:bold}
.g td.i{background:#fff0b3}
.g td.s{text-decoration:underline dotted}
.g td.b::before{content:"·";color:#aaa}
.g td.p{border:0}
.g td.x a{color:inherit;text-decoration:none}
.g sup{color:#c00000;margin-left:2px}
.lg span{display:inline-block;border:1px solid #888;padding:0 6px;margin-right:6px}
.lg .x{border:3px solid #c00000;background:#ffc4c4}.lg .i{background:#fff0b3}
ol.cs{list-style:none;padding:0;margin:6px 0}
li.c{border:1px solid #bbb;border-left:6px solid #c00000;padding:4px 10px;margin:8px 0}
li.c p{margin:2px 0}li.c ul{margin:2px 0;padding-left:20px}li.c.done{border-left-color:#2e7d32}
.d{margin:4px 0}.d input{font:inherit;padding:1px 4px;border:1px solid #888}.d .rv{width:9em}.d .no{width:16em}
.d button{margin-left:6px}.d [aria-invalid=true]{border:2px solid #c00000;background:#fff0f0}
.n{display:inline-block;min-width:1.5em;text-align:center;border:2px solid #c00000;border-radius:1em;
font-weight:bold;color:#c00000;text-decoration:none;margin-right:6px}
.k{display:inline-block;background:#fde2e2;border:1px solid #e5a5a5;padding:0 5px;margin-right:4px}
img.scan{display:block;border:1px solid #999;image-rendering:pixelated;height:40px}dl.v{display:grid;grid-template-columns:auto 1fr;gap:0 12px;margin:2px 0}dl.v dt{color:#444}dl.v dd{margin:0}
pre.src{font:12px/1.5 Consolas,"DejaVu Sans Mono","WenQuanYi Micro Hei",monospace;background:#fafafa;
border:1px solid #ddd;padding:6px 8px;white-space:pre-wrap;overflow-wrap:anywhere}
pre.src i{display:inline-block;min-width:4.5em;text-align:right;margin-right:10px;color:#888;font-style:normal;
user-select:none}
pre.src .h{background:#ffe3e3;font-weight:bold}pre.src .h i::before{content:"▶ ";color:#c00000}
mark{background:#ffd966;outline:1px solid #b38f00}
@media print{#bar,#help,#nojs,.top{display:none!important}body{max-width:none}section.report{content-visibility:visible}
li.c,.g{break-inside:avoid}h2,h3{break-after:avoid}
.g td.x,.g td.i,mark{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""

# Filters, keys and decisions. Plain ES5 for older office browsers; init is one pass over the sections.
SCRIPT = """
(function(){
var d=document,A=function(s,r){return [].slice.call((r||d).querySelectorAll(s))};
var secs=A('section.report'),idx=A('#idx li'),all=A('li.c'),items=secs.map(function(s){return A('li.c',s)});
var bar=d.getElementById('bar'),fk=d.getElementById('fk'),fi=d.getElementById('fi'),fa=d.getElementById('fa'),
fu=d.getElementById('fu'),count=d.getElementById('count'),done=d.getElementById('done'),dl=d.getElementById('dl'),
help=d.getElementById('help');
function has(list,x){return (' '+list+' ').indexOf(' '+x+' ')>=0}
function applyFilters(){
var k=fk.value,id=fi.value,a=fa.value.trim().toLowerCase(),u=fu.checked,ns=0,nc=0;
secs.forEach(function(s,i){
var shown=0;
items[i].forEach(function(e){
var m=(!k||has(e.dataset.k,k))&&(!id||has(e.dataset.i,id))&&!(u&&e.classList.contains('done'));
e.hidden=!m;if(m)shown++});
// Unfiltered, a report shows whole (notes too); "undecided only" shows just what is left to decide.
var v=(!a||s.dataset.a.toLowerCase().indexOf(a)>=0)&&(shown>0||!u&&(!k&&!id||!id&&has(s.dataset.n,k)));
s.hidden=!v;if(idx[i])idx[i].hidden=!v;if(v){ns++;nc+=shown}
});
count.textContent='显示 '+ns+' / '+secs.length+' 份报告 reports, '+nc+' 处冲突 conflicts';
}

// Decisions: checked as gxllm apply reads them, kept in localStorage under this page's key (when
// the browser allows it: file:// and privacy modes may not), exported as the CSV apply takes.
var BLANK=['blank','空','空白'],page=bar.dataset.page,store=null,decisions=[],byEntry={};
try{store=window.localStorage;store.setItem('gxllm:probe','1');store.removeItem('gxllm:probe')}catch(err){store=null}
function load(key){try{return store&&JSON.parse(store.getItem(key))}catch(err){return null}}
function save(x){
if(!store)return;
try{if(x.value.value||x.note.value)store.setItem(x.key,JSON.stringify([x.value.value,x.note.value]));else store.removeItem(x.key)}
catch(err){}  // full or withdrawn: the page goes on without persistence
}
// What each column kind holds, as gxllm.review.apply checks it (model.VALUE_KINDS).
var VALUE_KINDS=@VALUE_KINDS@;
function kindError(n,kind){var k=VALUE_KINDS[kind];return (k.whole&&n%1)||(!k.negative&&n<0)?k.error:''}
// A reviewer's value as gxllm apply reads it: 12, １２, 1,234, 96171.6, -3, or blank/空/空白 for a
// cell printed empty. {value} is what the CSV gets ('' undecided), {error} why apply would refuse it.
function resolve(text,kind){
var t=text.replace(/[\\uff01-\\uff5e]/g,function(c){return String.fromCharCode(c.charCodeAt(0)-0xfee0)}).replace(/,/g,'').trim();
if(!t)return {value:''};
if(BLANK.indexOf(t.toLowerCase())>=0)return {value:'blank'};
var n=/^-?(\\d+\\.?\\d*|\\.\\d+)$/.test(t)?parseFloat(t):NaN,
error=isFinite(n)?kindError(n,kind):'不是数字 not a number: 请写 write 12, 96171.6, blank';
return error?{error:error}:{value:t};
}
function check(x){
var r=resolve(x.value.value,x.entry.dataset.vk);
x.resolved=r.value||'';
if(r.error){x.value.setAttribute('aria-invalid','true');x.value.title=r.error}
else{x.value.removeAttribute('aria-invalid');x.value.removeAttribute('title')}
x.entry.classList.toggle('done',!!x.resolved);
}
function decided(){return decisions.filter(function(x){return x.resolved})}
function progress(){
var n=decided().length;
done.textContent='已决定 decided '+n+' / '+decisions.length;
dl.textContent='下载决定 Download decisions.csv ('+n+')';dl.disabled=!n;
}
function decisionOf(t){var e=t.closest('li.c');return e&&byEntry[e.id]}
// One decision per entry with a form: {entry, value and note (its inputs), report, cell, key, resolved}.
secs.forEach(function(s,i){items[i].forEach(function(e){
var form=e.querySelector('.d');
if(!form)return;  // a cell apply cannot take
var x={entry:e,value:form.querySelector('.rv'),note:form.querySelector('.no'),report:s.dataset.r,
cell:e.querySelector('.cell').textContent};
x.key='gxllm:'+page+':'+x.report+':'+x.cell;
var saved=load(x.key);
if(saved){x.value.value=saved[0]||'';x.note.value=saved[1]||''}
check(x);form.hidden=false;decisions.push(x);byEntry[e.id]=x;
})});
var CSV_HEADER='report_id,cell,table,row_label,column_label,value,resolved_value,note';
function csvField(s){return /[",\\r\\n]/.test(s)?'"'+s.replace(/"/g,'""')+'"':s}
function text(e,s){return e.querySelector(s).textContent}
// The decided cells as the CSV gxllm apply reads, with a BOM for Excel; the download button's content.
window.gxllmDecisionsCsv=function(){
return '\\ufeff'+[CSV_HEADER].concat(decided().map(function(x){var e=x.entry;
return [x.report,x.cell,text(e,'.tl'),text(e,'.rl'),text(e,'.cl'),e.dataset.v,x.resolved,x.note.value.trim()].map(csvField).join(',');
})).join('\\r\\n')+'\\r\\n';
};
dl.onclick=function(){
var url=URL.createObjectURL(new Blob([window.gxllmDecisionsCsv()],{type:'text/csv;charset=utf-8'})),a=d.createElement('a');
a.href=url;a.download='decisions.csv';d.body.appendChild(a);a.click();d.body.removeChild(a);
setTimeout(function(){URL.revokeObjectURL(url)},10000);
};
d.addEventListener('input',function(ev){var x=decisionOf(ev.target);if(x){check(x);save(x);progress()}});
d.addEventListener('click',function(ev){
var b=ev.target,x=decisionOf(b);
if(!x||b.tagName!=='BUTTON')return;
x.value.value=b.value;check(x);save(x);progress();x.value.focus();
});
// "Undecided only" drops an entry once its value is committed (Enter, leaving the input), not mid-typing.
d.addEventListener('change',function(ev){if(fu.checked&&decisionOf(ev.target))applyFilters()});

function visible(list){return list.filter(function(e){var s=e.closest('section.report');return !e.hidden&&!(s&&s.hidden)})}
// The element of `list` one step (dir) from the focused one, or the first/last when nothing is focused.
function step(list,dir){
var v=visible(list),a=d.activeElement,i;
if(!v.length)return null;
if(!a||a===d.body)return dir>0?v[0]:v[v.length-1];
for(i=0;i<v.length&&!(v[i]===a||v[i].contains(a));i++);
if(i<v.length)return v[i+dir];
if(dir>0)return v.filter(function(e){return a.compareDocumentPosition(e)&4})[0];
return v.filter(function(e){return e.compareDocumentPosition(a)&4}).pop();
}
// Focus first: leaving a decided input may re-filter (and move) the page before scrolling.
function go(t){if(t){t.focus({preventScroll:true});t.scrollIntoView({block:'center'})}}
fk.onchange=fi.onchange=fu.onchange=fa.oninput=applyFilters;
d.getElementById('clear').onclick=function(){fk.value=fi.value=fa.value='';fu.checked=false;applyFilters()};
d.getElementById('hb').onclick=function(){help.hidden=!help.hidden};
d.addEventListener('keydown',function(ev){
var t=ev.target,tag=t.tagName||'',next;
if(/^(INPUT|SELECT|TEXTAREA)$/.test(tag)||t.isContentEditable){
// Escape leaves a decision for its entry, so that j/k go on from there.
if(ev.key==='Escape'){if(decisionOf(t))t.closest('li.c').focus();else t.blur()}
// Enter in a decision moves on to the next conflict's value, unless it ends an IME composition (空).
else if(ev.key==='Enter'&&!ev.isComposing&&ev.keyCode!==229&&decisionOf(t)){
next=step(decisions.map(function(x){return x.entry}),1);
if(next)go(byEntry[next.id].value);
ev.preventDefault();
}
return}
if(ev.ctrlKey||ev.metaKey||ev.altKey)return;
switch(ev.key){
case 'j':go(step(all,1));break;case 'k':go(step(all,-1));break;
case 'n':go(step(secs,1));break;case 'p':go(step(secs,-1));break;
case '/':fa.focus();break;case '?':help.hidden=!help.hidden;break;
default:return}
ev.preventDefault();
});
progress();
applyFilters();
bar.hidden=false;
d.getElementById('nojs').hidden=true;
d.documentElement.setAttribute('data-ready',Math.round(performance.now()));
})();
""".replace(
    "@VALUE_KINDS@",
    json.dumps({k: {"whole": r.whole, "negative": r.negative, "error": r.page_error} for k, r in VALUE_KINDS.items()},
               ensure_ascii=False, separators=(",", ":")),
)  # fmt: skip


def render_html(results: list, reviews: list[ReportReview], *, title: str = "gxllm review") -> str:
    """One complete, self-contained HTML document: the summary, an index and one section per
    report in review."""
    s = summary(results, reviews)
    parts = [
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f'<h1 id="top">{escape(title)}</h1>',
    ]
    if reviews:
        parts.append(NO_SCRIPT_NOTE)
    parts += [_summary(s, template_of(reviews)), _index(reviews)]
    if reviews:
        parts.append(_filter_bar(s, reviews, _page_key(reviews)))
        parts.extend(_section(item) for item in reviews)
        parts.append(f"<script>{SCRIPT}</script>")
    parts.append("</body></html>\n")
    return "".join(parts)


# --- summary, index, filters -----------------------------------------------------------------

# Shown until the script runs: without it the decision forms stay hidden.
NO_SCRIPT_NOTE = (
    '<p id="nojs">在本页作出决定需要 JavaScript：请改用 <code>gxllm review … -o review.csv</code>，'
    "填写 resolved_value 列后运行 <code>gxllm apply</code>。 Deciding in this page needs JavaScript: "
    "write <code>gxllm review … -o review.csv</code>, fill in its resolved_value column and run "
    "<code>gxllm apply</code>.</p>"
)


def _page_key(reviews: list[ReportReview]) -> str:
    """Names this page's decisions in the browser's storage, which every page opened from a file
    shares: the same reports rendered again find them (whatever the title, which names the run
    as typed on the command line), other reports do not."""
    text = "\n".join(item.report_id for item in reviews)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _kind_label(kind: str) -> str:
    return escape(KIND_LABELS.get(kind, kind))


def _summary(s: dict, template: T.Template) -> str:
    status = s["status"]
    counts = [("报告 reports", s["reports"])] + [(STATUS_LABELS[k], n) for k, n in status.items()]
    counts.append(("冲突单元格 conflicting cells", s["conflicting_cells"]))
    out = ['<section id="sum"><h2>概况 Summary</h2><table class="kv">']
    out += [f"<tr><th>{label}</th><td>{n}</td></tr>" for label, n in counts]
    out.append("</table>")
    if s["by_kind"]:
        out.append("<h3>按问题类型 By kind</h3><ul>")
        out += [f"<li>{_kind_label(k)}: {n}</li>" for k, n in s["by_kind"].items()]
        out.append("</ul>")
    if s["by_identity"]:
        out.append("<h3>未通过的勾稽关系 Failing identities</h3><ul>")
        descriptions = {i.id: i.description for i in template.identities}
        for identity, n in s["by_identity"].items():
            description = descriptions.get(identity)
            note = f' <span class="m">{escape(description)}</span>' if description else ""
            out.append(f"<li><code>{escape(str(identity))}</code>{note}: {n}</li>")
        out.append("</ul>")
    if s["llm_calls"]:
        out.append(
            f"<p>LLM: {s['llm_calls']} 次调用 calls, {s['input_tokens']} + {s['output_tokens']} tokens, "
            f"费用 cost {number(s['cost'])}</p>"
        )
    if s["failed"]:
        out.append(f"<details><summary>失败的报告 Failed reports ({len(s['failed'])})</summary><ul>")
        out += [f"<li><code>{escape(name or '')}</code>: {escape(reason or '')}</li>" for name, reason in s["failed"]]
        out.append("</ul></details>")
    out.append(
        '<p class="lg">图例 legend: <span class="x">冲突 conflict<sup>1</sup></span>'
        '<span class="i">相关 involved</span><span>· 空 blank</span>'
        '<span class="s" title="由勾稽关系拆分 split from glued digits by the identities">拆分 split</span>'
        "<mark>行名 row label</mark></p></section>"
    )
    return "".join(out)


def _agency_year(report: ReportInfo) -> str:
    agency = report.agency or "(机关不详 agency unknown)"
    return escape(f"{agency} {report.year or ''}".strip())


def _section_id(item: ReportReview) -> str:
    return escape(f"r-{item.report_id}")


def _index(reviews: list[ReportReview]) -> str:
    if not reviews:
        return '<p id="idx">没有需要复核的报告 Nothing to review.</p>'
    out = [f'<nav id="idx"><h2>待复核的报告 Reports to review ({len(reviews)})</h2><ol>']
    for item in reviews:
        out.append(
            f'<li><a href="#{_section_id(item)}">{_agency_year(item.report)}</a> '
            f'<span class="m">{escape(item.source or "")} · {len(item.conflicts)} 处冲突 conflicts</span></li>'
        )
    out.append("</ol></nav>")
    return "".join(out)


def _options(values: Iterable[str], label: Callable[[str], str]) -> str:
    return "".join(f'<option value="{escape(v)}">{label(v)}</option>' for v in values)


def _filter_bar(s: dict, reviews: list[ReportReview], page_key: str) -> str:
    """Hidden until the script runs: without JavaScript the filters and decisions would do nothing."""
    agencies = sorted({item.report.agency or "" for item in reviews} - {""})
    return (
        f'<div id="bar" data-page="{page_key}" hidden>'
        '<label>问题类型 kind <select id="fk"><option value="">全部 all</option>'
        f"{_options(s['by_kind'], _kind_label)}</select></label>"
        '<label>勾稽关系 identity <select id="fi"><option value="">全部 all</option>'
        f"{_options(map(str, s['by_identity']), escape)}</select></label>"
        '<label>机关 agency <input id="fa" list="agencies" size="16" placeholder="按 / 搜索"></label>'
        f'<datalist id="agencies">{_options(agencies, escape)}</datalist>'
        '<label><input type="checkbox" id="fu"> 未决定 undecided only</label>'
        '<button type="button" id="clear">清除 clear</button> <button type="button" id="hb">? 快捷键 keys</button>'
        '<span id="count"></span><span id="done"></span><button type="button" id="dl"></button></div>'
        '<div id="help" hidden><kbd>j</kbd>/<kbd>k</kbd> 下一处/上一处冲突 next/previous conflict · '
        "<kbd>n</kbd>/<kbd>p</kbd> 下一份/上一份报告 next/previous report · "
        "<kbd>/</kbd> 搜索机关 filter by agency · <kbd>Esc</kbd> 离开输入框 leave the input · "
        "<kbd>Enter</kbd> 填好核定值后到下一处冲突 from a resolved value on to the next conflict's · "
        "<kbd>?</kbd> 显示/隐藏帮助 this help</div>"
    )


# --- one report ---------------------------------------------------------------------------------


def _section(item: ReportReview) -> str:
    report, status = item.report, item.result.status
    numbers = {c.cell: n for n, c in enumerate(item.conflicts, 1)}
    note_kinds = " ".join(sorted({n.kind for n in item.notes}))
    # What the filters match beside the conflict entries' own data-k/data-i: agency, notes' kinds;
    # the decisions CSV takes the report id from data-r.
    out = [
        (
            f'<section class="report" id="{_section_id(item)}" tabindex="-1" data-r="{escape(item.report_id)}" '
            f'data-a="{escape(report.agency or "")}" data-n="{escape(note_kinds)}">'
        ),
        f'<h2>{_agency_year(report)} <a class="top" href="#top" title="回到顶部 top">↑</a></h2>',
        (
            f'<p class="m">来源文件 source <code>{escape(item.source or "")}</code> · '
            f"报告编号 report id <code>{escape(item.report_id)}</code> · "
            f"状态 status {escape(STATUS_LABELS.get(status, status))}</p>"
        ),
    ]
    if item.notes:
        out.append("<ul>")
        for note in item.notes:
            table = next((t for t in item.template.tables if t.key == note.details.get("table")), None)
            where = f"{table.number} " if table and not note.message.startswith(table.number) else ""
            out.append(f'<li><span class="k">{_kind_label(note.kind)}</span>{where}{escape(note.message)}</li>')
        out.append("</ul>")
    for table in item.template.tables:
        conflicts = [c for c in item.conflicts if c.table == table.key]
        if conflicts or any(c.table == table.key for c in item.involved):
            out.append(_table_block(item, table, conflicts, numbers))
    out.append("</section>")
    return "".join(out)


def _table_block(item: ReportReview, table: T.Table, conflicts: list[Conflict], numbers: dict[CellRef, int]) -> str:
    reading = item.result.tables[table.key]
    shape = reading.shape
    split = {cell for cell, where in reading.cells.items() if where.split}
    grid = _Grid(item, table.key, reading.values, numbers, split)
    out = [f"<h3>{table.number} {escape(table.title)}</h3>", _printed_table(shape, grid, item.template)]
    if conflicts:
        out.append('<ol class="cs">')
        drawn = [shape.cell(c.row, c.column) for c in conflicts]
        out += [
            _conflict_entry(item, c, numbers[c.cell], found and found[1], reading.cells.get(c.cell))
            for c, found in zip(conflicts, drawn)
        ]
        out.append("</ol>")
    out.append(_excerpt(reading, shape, conflicts))
    return "".join(out)


# --- the tables as the template prints them ------------------------------------------------------


def _value_text(value) -> str:
    """A value as shown in a table cell; empty for a blank."""
    if value is None or value == "":
        return ""
    return number(value) if isinstance(value, int | float) else str(value)


def _anchor_id(prefix: str, item: ReportReview, n: int) -> str:
    return escape(f"{prefix}-{item.report_id}-{n}")


@dataclass
class _Grid:
    """Draws the cells of one table of one report, marked as conflict, involved or blank."""

    item: ReportReview
    table: str
    values: dict
    numbers: dict[CellRef, int]  # conflict number by cell
    split: set[CellRef]  # the cells read by splitting glued digits

    def td(self, row: str, column: str, colspan: int) -> str:
        path = CellRef(self.table, row, column)
        value = (self.values.get(row) or {}).get(column)
        text = escape(_value_text(value))
        span = f' colspan="{colspan}"' if colspan > 1 else ""
        blank = " b" if value is None else ""
        if path in self.split:
            blank += " s"
        n = self.numbers.get(path)
        if n is not None:
            return (
                f'<td class="x{blank}"{span} id="{_anchor_id("v", self.item, n)}">'
                f'<a href="#{_anchor_id("c", self.item, n)}">{text}<sup>{n}</sup></a></td>'
            )
        if path in self.item.involved:
            return f'<td class="i{blank}"{span}>{text}</td>'
        if value is None:
            return f'<td class="{blank.strip()}"{span}></td>'
        return f'<td class="{blank.strip()}"{span}>{text}</td>' if blank else f"<td{span}>{text}</td>"

    def amount_unit(self) -> str | None:
        """The unit printed beside an amount (表二 2019 政府集中采购), for its column label."""
        return next((r[T.AMOUNT_UNIT_KEY] for r in self.values.values() if T.AMOUNT_UNIT_KEY in (r or {})), None)


def _th(text: str, colspan: int = 1, rowspan: int = 1) -> str:
    attributes = (f' colspan="{colspan}"' if colspan > 1 else "") + (f' rowspan="{rowspan}"' if rowspan > 1 else "")
    return f"<th{attributes}>{escape(text)}</th>"


def _printed_table(shape: T.Shape, grid: _Grid, template: T.Template) -> str:
    """The table on the grid the template prints (gxllm.review.printed); the rows before the first
    value are its header."""
    _, rows = printed.grid(shape, grid.amount_unit(), template)
    head: list[str] = []
    body: list[str] = []
    for cells in rows:
        html = "".join(grid.td(*c.cell, c.colspan) if c.cell else _th(c.text, c.colspan, c.rowspan) for c in cells)
        (body if body or any(c.cell for c in cells) else head).append(f"<tr>{html}</tr>")
    return f'<table class="g"><thead>{"".join(head)}</thead><tbody>{"".join(body)}</tbody></table>'


# --- conflict entries --------------------------------------------------------------------------


def _reading(value) -> str:
    """A value as one path read it: "" means that path gave no reading, None a blank cell."""
    if value == "":
        return '<span class="na">— 未读出 no reading</span>'
    if value is None:
        return '<span class="na">空 blank</span>'
    return escape(_value_text(value))


def _names(names: list[str]) -> str:
    return "; ".join(escape(n) for n in names) if names else '<span class="na">无 none</span>'


def _decision_form(c: Conflict) -> str:
    """The reviewer's resolved value and note, with buttons that fill in a reading; hidden until
    the script shows it, since only the script can keep and export a decision."""
    readings = ((c.rules_value, "用规则值 use rule value"), (c.llm_value, "用LLM值 use LLM value"), (c.value, "确认现值 confirm value"))
    readings += tuple((v, f"候选 candidate {_value_text(v) or '空 blank'}") for v in c.candidates)
    buttons = "".join(f'<button type="button" value="{number(v)}">{label}</button>' for v, label in readings if v != "")
    return (
        '<div class="d" hidden><input class="rv" inputmode="decimal" placeholder="核定值 resolved value"> '
        f'<input class="no" placeholder="备注 note">{buttons}</div>'
    )


def _conflict_entry(item: ReportReview, c: Conflict, n: int, column: T.Column | None, where: Provenance | None) -> str:
    """One conflict: what each path read and why it is in review, then the decision. `column` is
    the cell's column in the table as drawn; a cell the drawn table lacks is one `gxllm apply`
    refuses, so it gets no decision form."""
    identities = " ".join(sorted({f.identity for f in c.identities}))
    drawn = column is not None
    marker = f'<a class="n" href="#{_anchor_id("v", item, n)}">{n}</a>' if drawn else f'<span class="n">{n}</span>'
    where = where or Provenance()
    location = ""
    if where.line is not None:
        location = f"第 {where.line} 行 line {where.line}"
        if where.page is not None:
            location += f", 第 {where.page} 页 page {where.page}"
        location = f"<dt>原文 source</dt><dd>{escape(location)}</dd>"
    if str(where.crop or "").startswith("data:image/png;base64,"):  # never a URL that leaves the page
        confidence = "" if where.confidence is None else str(where.confidence)
        location += (
            f'<dt>扫描 scan</dt><dd><img class="scan" src="{escape(where.crop)}" alt="the scan where it was read"> '
            f"OCR {escape(confidence)}{' corrected' if where.corrected else ''}</dd>"
        )
    kinds = "".join(f'<span class="k">{_kind_label(k)}</span>' for k in c.kinds)
    # data-vk: the column's kind (count, signed, money), which values it takes; data-v: the value
    # now, exact, for the decisions CSV (which reads the cell and labels from .cell, .tl, .rl, .cl).
    decision = f' data-vk="{column.kind}" data-v="{"" if c.value is None else number(c.value)}"' if drawn else ""
    out = [
        (
            f'<li class="c" id="{_anchor_id("c", item, n)}" tabindex="-1" '
            f'data-k="{escape(" ".join(c.kinds))}" data-i="{escape(identities)}"{decision}>'
        ),
        (
            f'<p>{marker}<b><span class="tl">{c.table_label}</span> · <span class="rl">{escape(c.row_label)}</span> · '
            f'<span class="cl">{escape(c.column_label)}</span></b> <code class="cell">{escape(c.path)}</code></p>'
        ),
        (
            f'<dl class="v"><dt>现值 value</dt><dd>{_reading(c.value)}</dd>'
            f"<dt>规则 rules</dt><dd>{_reading(c.rules_value)}</dd><dt>LLM</dt><dd>{_reading(c.llm_value)}</dd>"
        ),
        f"<dt>问题 kinds</dt><dd>{kinds}</dd>",
    ]
    if "disagreement" in c.kinds:
        out.append(
            f"<dt>规则值成立的勾稽关系 holding with the rule value</dt><dd>{_names(c.rules_satisfies)}</dd>"
            f"<dt>LLM值成立的勾稽关系 holding with the LLM value</dt><dd>{_names(c.llm_satisfies)}</dd>"
        )
    if c.candidates:
        shown = " / ".join(escape(_value_text(v) or "空 blank") for v in c.candidates)
        out.append(f"<dt>候选拆分 candidate splits</dt><dd>{shown}</dd>")
    if where.split:
        out.append("<dt>拆分 split</dt><dd>由勾稽关系从粘连数字中拆出 split from glued digits by the identities</dd>")
    out.append(location + "</dl>")
    if c.identities:
        out.append("<p>未通过的勾稽关系 failing identities:</p><ul>")
        out += [f"<li><b>{escape(f.name)}</b>: <code>{escape(f.arithmetic)}</code></li>" for f in c.identities]
        out.append("</ul>")
    if c.messages:
        out.append("<ul>" + "".join(f"<li>{escape(m)}</li>" for m in c.messages) + "</ul>")
    if drawn:
        out.append(_decision_form(c))
    out.append("</li>")
    return "".join(out)


# --- the source text ---------------------------------------------------------------------------


@dataclass
class _SourceLine:
    line_number: int
    text: str
    squeezed: str  # normalised and whitespace-free: what the template's anchors are written for
    positions: list[int] | None  # where each squeezed character sits in `text`; None if normalising changed the length

    @classmethod
    def read(cls, line_number: int, text: str, simplify: bool) -> _SourceLine:
        normalised = normalize_text(text, simplify=simplify)
        kept = [i for i, ch in enumerate(normalised) if not ch.isspace()]
        squeezed = "".join(normalised[i] for i in kept)
        return cls(line_number, text, squeezed, kept if len(normalised) == len(text) else None)

    def find(self, anchor: str) -> tuple[int, int] | None:
        """The characters of `text` the anchor matches: the whole line when they cannot be told."""
        match = re.search(anchor, self.squeezed)
        if match is None:
            return None
        if self.positions is None:
            return 0, len(self.text)
        return self.positions[match.start()], self.positions[match.end() - 1] + 1


def _excerpt(reading: TableReading, shape: T.Shape, conflicts: list[Conflict]) -> str:
    """The table's source lines, numbered; the conflicting cells' lines and row labels marked."""
    text = reading.text or []
    if not text:
        return '<p class="na">没有原文 no source text for this table</p>'
    simplify = needs_simplification("".join(t for _, t in text))
    lines = [_SourceLine.read(n, t, simplify) for n, t in text]
    cells = reading.cells
    rows = {r.key: r for r in shape.rows}
    hot: set[int] = set()
    marks: dict[int, set[tuple[int, int]]] = {}
    for c in conflicts:
        row = rows.get(c.row)
        line = where.line if (where := cells.get(c.cell)) else None
        if line is not None:
            hot.add(line)
        if row is None:
            continue
        if line is None:  # unread: the row's label is all there is to point at
            for source in lines:
                found = source.find(row.anchor)
                if found:
                    hot.add(source.line_number)
                    marks.setdefault(source.line_number, set()).add(found)
            continue
        # The label is on the value's line, or (one cell per line) on the nearest line above it.
        for source in reversed([s for s in lines if s.line_number <= line]):
            found = source.find(row.anchor)
            if found:
                marks.setdefault(source.line_number, set()).add(found)
                break
    where = f"第 {escape(line_range(reading.lines) if reading.lines else '')} 行 lines"
    if reading.pages:
        where += f", 第 {escape(page_range(reading.pages))} 页 pages"
    method = f" · {escape(reading.method)}" if reading.method else ""
    body = []
    for source in lines:
        content = _marked(source.text, marks.get(source.line_number, ()))
        if source.line_number in hot:
            body.append(f'<span class="h"><i>{source.line_number}</i>{content}</span>\n')
        else:
            body.append(f"<i>{source.line_number}</i>{content}\n")
    return f'<p class="m">原文 source text, {where}{method}</p><pre class="src">{"".join(body)}</pre>'


def _marked(text: str, ranges: Iterable[tuple[int, int]]) -> str:
    """The line, escaped, with <mark> around the (possibly overlapping) ranges."""
    out, position = [], 0
    for start, end in sorted(ranges):
        start = max(start, position)
        if end <= start:
            continue
        out += [escape(text[position:start]), "<mark>", escape(text[start:end]), "</mark>"]
        position = end
    out.append(escape(text[position:]))
    return "".join(out)
