"""The HTML review page: what it shows (pure tests on the markup) and how it behaves in a real,
headless Chromium (filters, keys, decisions kept and exported for `gxllm apply`, JavaScript off,
nothing fetched)."""

from __future__ import annotations

import copy
import csv
import io
import re
from html import escape
from pathlib import Path

import pytest
from browser import ARTIFACTS, chromium_fixture, save_full_page
from layouts import render_pipe_cells, sample_report, sample_report_2019, with_subtotal
from review_cases import (
    consistent,
    disagreeing,
    extract_rendered,
    misprinted,
    reader_answering,
    unreadable,
)

from gxllm import template as T
from gxllm.output import shape_of
from gxllm.pipeline import extract_bytes
from gxllm.review.apply import DecisionError, apply, read_decisions
from gxllm.review.conflicts import KIND_LABELS, review
from gxllm.review.page import render_html
from gxllm.review.printed import NOTE
from gxllm.tables.normalize import normalize_text, squeeze
from gxllm.tables.validate import number

browser = chromium_fixture()
browser_without_js = chromium_fixture(javascript=False)

INJECTED = "<script>window.pwned = 1</script>"


@pytest.fixture(scope="module")
def batch() -> list[dict]:
    """ok, disagreement, misprint (identities fail), unreadable; the misprint's source text
    carries a script, as an untrusted document could."""
    results = [consistent(1), disagreeing(2), misprinted(3), unreadable(4)]
    lines = results[2]["provenance"]["applications"]["text"]
    lines[0] = [lines[0][0], lines[0][1] + INJECTED]
    return results


@pytest.fixture(scope="module")
def reviews(batch):
    return review(batch)


@pytest.fixture(scope="module")
def page(batch, reviews) -> str:
    return render_html(batch, reviews, title="审核 review")


def sections(html: str) -> dict[str, str]:
    """Each report section's markup by its id."""
    parts = html.split('<section class="report"')[1:]
    return {re.search(r'id="([^"]+)"', p).group(1): p.split("</section>")[0] for p in parts}


def section_of(html: str, report_id: str) -> str:
    return sections(html)[f"r-{report_id}"]


def finding(result: dict, kind: str) -> dict:
    return next(f for f in result["findings"] if f["kind"] == kind)


# --- the markup ------------------------------------------------------------------------------------


def test_one_section_per_report_in_review_in_order(page, reviews):
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page and '<meta charset="utf-8">' in page
    assert page.count('<section class="report"') == 3
    assert list(sections(page)) == [f"r-{item.report_id}" for item in reviews]
    for item in reviews:  # the index links to each section
        assert f'<a href="#r-{item.report_id}">' in page


def test_a_batch_without_reports_in_review_says_so():
    results = [consistent(1), consistent(5)]
    html = render_html(results, review(results))
    assert '<section class="report"' not in html
    assert "没有需要复核的报告 Nothing to review." in html
    assert "<tr><th>报告 reports</th><td>2</td></tr><tr><th>通过 ok</th><td>2</td></tr>" in html


def test_summary_counts_statuses_kinds_identities_and_llm_use(page, batch):
    assert "<tr><th>报告 reports</th><td>4</td></tr>" in page
    assert "<tr><th>通过 ok</th><td>1</td></tr><tr><th>待复核 review</th><td>3</td></tr>" in page
    assert f"<li>{KIND_LABELS['disagreement']}: 1</li>" in page
    assert f"<li>{KIND_LABELS['unreadable']}: 7</li>" in page
    assert f"<li>{KIND_LABELS['llm_not_configured']}: 1</li>" in page
    assert "<code>T3-flow</code>" in page and "<code>T3-row</code>" in page
    calls = [c for r in batch for c in (r.get("llm") or {}).get("calls", [])]
    tokens = f"{sum(c['input_tokens'] for c in calls)} + {sum(c['output_tokens'] for c in calls)} tokens"
    assert f"LLM: {len(calls)} 次调用 calls, {tokens}" in page


def test_disagreement_shows_the_rule_and_the_llm_value_and_what_each_satisfies(page, batch, reviews):
    result = batch[1]
    found = finding(result, "disagreement")
    assert found["rules_value"] != found["llm_value"]
    html = section_of(page, reviews[0].report_id)
    assert (
        f"<dt>现值 value</dt><dd>{number(result['applications']['new_received']['natural_person'])}</dd>"
        f"<dt>规则 rules</dt><dd>{number(found['rules_value'])}</dd><dt>LLM</dt><dd>{number(found['llm_value'])}</dd>"
    ) in html
    assert f"<dd>{'; '.join(escape(n) for n in found['rules_satisfies'])}</dd>" in html
    assert found["llm_satisfies"] == [] and '<dd><span class="na">无 none</span></dd>' in html
    assert '<code class="cell">applications.new_received.natural_person</code>' in html
    assert escape(found["message"]) in html


def test_misprint_shows_the_arithmetic_of_every_failing_identity(page, batch, reviews):
    item = reviews[1]
    html = section_of(page, item.report_id)
    (conflict,) = item.conflicts
    assert sorted(f.identity for f in conflict.identities) == ["T3-flow", "T3-row"]
    flow = next(f for f in conflict.identities if f.identity == "T3-flow")
    values = batch[2]["applications"]
    received, carried = values["new_received"]["natural_person"], values["carried_over"]["natural_person"]
    assert f"{received}+{carried}={received + carried}" in flow.arithmetic  # from the result's own numbers
    for failure in conflict.identities:
        assert f"<li><b>{escape(failure.name)}</b>: <code>{escape(failure.arithmetic)}</code></li>" in html


def test_conflict_cells_link_to_their_entries_and_involved_cells_are_marked(page, reviews):
    item = reviews[1]
    html = section_of(page, item.report_id)
    rid = item.report_id
    assert f'<td class="x" id="v-{rid}-1"><a href="#c-{rid}-1">' in html
    assert f'<li class="c" id="c-{rid}-1" tabindex="-1" data-k="identity" data-i="T3-flow T3-row" ' in html
    assert f'<a class="n" href="#v-{rid}-1">1</a>' in html
    assert html.count('<td class="i">') == len(item.involved) > 0


def test_unread_cells_are_blank_conflicts_and_their_row_label_is_marked_in_the_source(page, batch, reviews):
    item = reviews[2]
    html = section_of(page, item.report_id)
    assert [c.kinds for c in item.conflicts] == [["unreadable"]] * 7
    assert html.count('<td class="x b"') == 7
    row = shape_of(batch[3], "applications").row("partially_granted")
    lines = [n for n, text in batch[3]["provenance"]["applications"]["text"] if re.search(row.anchor, squeeze(normalize_text(text)))]
    assert lines  # no cell line: the lines holding the row's label are marked instead
    for line in lines:
        assert re.search(rf'<span class="h"><i>{line}</i>[^\n]*<mark>', html)
    assert "llm_not_configured" in html  # the note naming no cell


def test_the_line_of_a_conflict_is_marked_with_its_row_label(page, batch, reviews):
    html = section_of(page, reviews[0].report_id)
    line = batch[1]["provenance"]["applications"]["cells"]["new_received.natural_person"]["line"]
    marked = re.search(rf'<span class="h"><i>{line}</i>([^\n]*)</span>\n', html).group(1)
    label = re.search("<mark>(.*?)</mark>", marked).group(1)
    assert re.fullmatch(T.applications_shape("2021", False).row("new_received").anchor, label)


def test_one_cell_per_line_marks_the_label_on_the_nearest_line_above_the_value():
    report = copy.deepcopy(sample_report(3))
    report["applications"]["new_received"]["natural_person"] += 1
    result = extract_bytes(render_pipe_cells(report).encode(), "cells.txt", llm="never")
    item = review([result])[0]
    html = render_html([result], [item])
    provenance = result["provenance"]["applications"]
    value_line = provenance["cells"]["new_received.natural_person"]["line"]
    text = dict(provenance["text"])
    label_line = max(n for n in text if n < value_line and "本年新收" in text[n])
    assert re.search(rf'<span class="h"><i>{value_line}</i>{re.escape(escape(text[value_line]))}</span>', html)
    assert re.search(rf"\n<i>{label_line}</i>[^\n]*<mark>本年新收</mark>", html)


@pytest.fixture(scope="module")
def every_table() -> dict:
    """A 2019 report with 小计 and a conflict in each table: 表二 a disagreement, 表三 and 表四
    a misprint."""
    report = with_subtotal(sample_report_2019(5))
    report["reviews_and_lawsuits"]["lawsuit_direct"]["upheld"] += 1
    report["applications"]["granted"]["research_institution"] += 1
    procurement = ("active_disclosure", "government_procurement", "projects")
    wrong = {procurement: report["active_disclosure"]["government_procurement"]["projects"] + 1}
    return extract_rendered(report, "reports/every-table.txt", llm="always", reader=reader_answering(report, wrong))


def test_tables_are_drawn_as_the_templates_print_them(every_table):
    """表二 in its 第二十条 groups, 表三 with 小计 and its nested row labels, 表四 in one row of 15."""
    result = every_table
    item = review([result])[0]
    html = section_of(render_html([result], [item]), item.report_id)
    assert [t.number for t in T.TABLES if f"<h3>{t.number} " in html] == ["表二", "表三", "表四"]
    t2, t3, t4 = (html.split(f"<h3>{t.number} ")[1].split("</table>")[0] for t in T.TABLES)

    rows = T.ACTIVE_DISCLOSURE_ROWS["2019"]  # one group per item of 第二十条, as printed
    assert re.findall(r"<th colspan=\"4\">第二十条第(\(.\))项</th>", t2) == ["(一)", "(五)", "(六)", "(八)", "(九)"]
    assert t2.count("<th>信息内容</th>") == 5 and all(f"<th>{r.label}</th>" in t2 for r in rows)

    columns = shape_of(result, "applications").columns
    assert T.SUBTOTAL_COLUMN in columns
    assert f'<th colspan="3" rowspan="3">{NOTE}</th><th colspan="{len(columns)}">申请人情况</th>' in t3
    assert '<th rowspan="2">自然人</th><th colspan="6">法人或其他组织</th><th rowspan="2">总计</th>' in t3
    assert "".join(f"<th>{c.label}</th>" for c in T.ORGANISATION_COLUMNS) + "<th>法人或其他组织小计</th>" in t3
    assert '<th rowspan="20">三、本年度办理结果</th><th colspan="2">(一)予以公开</th>' in t3  # (一)…(七), 2019
    assert '<th rowspan="8">(三)不予公开</th><th>1.属于国家秘密</th>' in t3

    assert '<thead><tr><th colspan="5">行政复议</th><th colspan="10">行政诉讼</th></tr>' in t4
    assert '<th colspan="5">未经复议直接起诉</th><th colspan="5">复议后起诉</th>' in t4
    assert t4.count('<th rowspan="2">结果维持</th>') == 1 and t4.count("<th>结果维持</th>") == 2
    body = t4.split("<tbody>")[1]
    assert body.count("<tr>") == 1 and body.count("<td") == 15
    values = result["reviews_and_lawsuits"]
    printed = [number(values[r.key][c.key]) for r in T.REVIEW_ROWS for c in T.REVIEW_COLUMNS]
    assert re.findall(r"<td[^>]*>(?:<a[^>]*>)?([^<]*)", body) == printed


def entry_of(html: str, report_id: str, n: int) -> str:
    """The markup of one conflict entry."""
    return re.search(rf'<li class="c" id="c-{report_id}-{n}".*?</div></li>', html).group(0)


def test_each_conflict_gets_a_decision_form_hidden_until_the_script_shows_it(page, reviews):
    disagree, misprint, unread = (entry_of(page, item.report_id, 1) for item in reviews)
    form = '<div class="d" hidden><input class="rv" inputmode="decimal" placeholder="核定值 resolved value"> <input class="no" placeholder="备注 note">'
    assert page.count(form) == sum(len(item.conflicts) for item in reviews) == 9
    # The column's kind and the value now, exact; a button for each reading, then the value now.
    assert 'data-vk="count" data-v="152">' in disagree
    assert disagree.endswith(
        '<button type="button" value="152">用规则值 use rule value</button>'
        '<button type="button" value="153">用LLM值 use LLM value</button>'
        '<button type="button" value="152">确认现值 confirm value</button></div></li>'
    )
    assert 'data-vk="count" data-v="166">' in misprint and "用LLM值" not in misprint  # the LLM was not asked
    assert 'data-vk="count" data-v="">' in unread  # no reading at all: only the blank cell to confirm
    assert unread.endswith(f'{form}<button type="button" value="blank">确认现值 confirm value</button></div></li>')
    # What the decisions CSV reads from the entry's own text.
    assert (
        '<b><span class="tl">表三</span> · <span class="rl">一、本年新收政府信息公开申请数量</span> · '
        '<span class="cl">自然人</span></b> <code class="cell">applications.new_received.natural_person</code>'
    ) in disagree
    for item in reviews:
        assert f'<section class="report" id="r-{item.report_id}" tabindex="-1" data-r="{item.report_id}" ' in page


def test_the_page_says_how_to_decide_without_javascript_and_names_its_decisions(batch, reviews, page):
    assert page.index('<p id="nojs">') < page.index('<section id="sum">')
    assert "<code>gxllm review … -o review.csv</code>" in page.split('<p id="nojs">')[1].split("</p>")[0]
    key = re.search(r'<div id="bar" data-page="([0-9a-f]{16})" hidden>', page).group(1)
    assert f'data-page="{key}"' in render_html(batch, reviews, title="gxllm review: ./run1")  # the same reports
    assert f'data-page="{key}"' not in render_html(batch, reviews[:2], title="审核 review")
    nothing = [consistent(1)]
    assert 'id="nojs"' not in render_html(nothing, review(nothing))  # nothing to decide


@pytest.fixture(scope="module")
def every_kind() -> dict:
    """A 2019 report whose LLM misreads a count, a signed change (本年增/减) and an amount (万元)."""
    report = sample_report_2019(5)
    t2 = report["active_disclosure"]
    wrong = {
        ("active_disclosure", "government_procurement", "projects"): t2["government_procurement"]["projects"] + 1,
        ("active_disclosure", "administrative_licensing", "change"): t2["administrative_licensing"]["change"] - 1,
        ("active_disclosure", "government_procurement", "total_amount"): 1234567.89,
    }
    return extract_rendered(report, "reports/every-kind.txt", llm="always", reader=reader_answering(report, wrong))


def test_entries_carry_their_column_kind_and_exact_values(every_kind):
    (item,) = review([every_kind])
    html = render_html([every_kind], [item])
    t2 = every_kind["active_disclosure"]
    by_cell = {c.path: entry_of(html, item.report_id, n) for n, c in enumerate(item.conflicts, 1)}
    projects = by_cell["active_disclosure.government_procurement.projects"]
    change = by_cell["active_disclosure.administrative_licensing.change"]
    amount = by_cell["active_disclosure.government_procurement.total_amount"]
    assert f'data-vk="count" data-v="{t2["government_procurement"]["projects"]}">' in projects
    assert f'data-vk="signed" data-v="{t2["administrative_licensing"]["change"]}">' in change
    assert t2["government_procurement"]["total_amount"] % 1  # a fraction
    assert f'data-vk="money" data-v="{t2["government_procurement"]["total_amount"]}">' in amount
    assert "<dt>LLM</dt><dd>1234567.89</dd>" in amount  # exact, not 1.23457e+06
    assert '<button type="button" value="1234567.89">用LLM值 use LLM value</button>' in amount


def test_the_page_is_self_contained(page):
    for outside in ("http://", "https://", "src=", "<link", "url(", "@import"):
        assert outside not in page


def test_text_from_the_report_is_escaped(page):
    assert INJECTED not in page
    assert escape(INJECTED) in page


# --- in the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def url(page, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("review") / "review.html"
    path.write_text(page, "utf-8")
    return path.as_uri()


def visible_sections(driver) -> list[str]:
    return [s.get_attribute("id") for s in driver.find_elements("css selector", "section.report") if s.is_displayed()]


def press(driver, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def test_in_the_browser_every_section_shows_and_nothing_is_fetched_or_run(browser, url, reviews):
    browser.get(url)
    assert browser.execute_script("return document.documentElement.dataset.ready") is not None
    assert visible_sections(browser) == [f"r-{item.report_id}" for item in reviews]
    assert browser.find_element("id", "bar").is_displayed()
    assert not browser.find_element("id", "nojs").is_displayed()
    conflicts = sum(len(item.conflicts) for item in reviews)
    assert browser.find_element("id", "count").text == f"显示 3 / 3 份报告 reports, {conflicts} 处冲突 conflicts"
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return window.pwned") is None
    assert INJECTED in browser.find_element("id", f"r-{reviews[1].report_id}").find_element("css selector", "pre").text
    shot = save_full_page(browser, ARTIFACTS / "review.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filters_hide_the_sections_and_entries_that_do_not_match(browser, url, reviews):
    from selenium.webdriver.support.ui import Select

    browser.get(url)
    disagree, misprint, unread = (f"r-{item.report_id}" for item in reviews)
    Select(browser.find_element("id", "fk")).select_by_value("disagreement")
    assert visible_sections(browser) == [disagree]
    assert len([li for li in browser.find_elements("css selector", "#idx li") if li.is_displayed()]) == 1
    assert browser.find_element("id", "count").text == "显示 1 / 3 份报告 reports, 1 处冲突 conflicts"
    Select(browser.find_element("id", "fk")).select_by_value("llm_not_configured")  # a note's kind
    assert visible_sections(browser) == [unread]
    Select(browser.find_element("id", "fk")).select_by_value("")
    Select(browser.find_element("id", "fi")).select_by_value("T3-flow")
    assert visible_sections(browser) == [misprint]
    browser.find_element("id", "clear").click()
    assert visible_sections(browser) == [disagree, misprint, unread]
    browser.find_element("id", "fa").send_keys(reviews[2].report.agency)
    assert visible_sections(browser) == [unread]


def test_a_filter_hides_the_entries_of_a_shown_report_that_do_not_match(browser, every_table, tmp_path):
    from selenium.webdriver.support.ui import Select

    reviews = review([every_table])
    path = tmp_path / "every-table.html"
    path.write_text(render_html([every_table], reviews), "utf-8")
    browser.get(path.as_uri())
    kinds = [c.kinds for c in reviews[0].conflicts]
    assert ["disagreement"] in kinds and len(kinds) > 1
    Select(browser.find_element("id", "fk")).select_by_value("disagreement")
    shown = [e.get_attribute("id") for e in browser.find_elements("css selector", "li.c") if e.is_displayed()]
    assert shown == [f"c-{reviews[0].report_id}-{kinds.index(['disagreement']) + 1}"]


def test_keys_move_between_conflicts_and_reports_but_not_while_typing(browser, url, reviews):
    browser.get(url)
    entries = [e.get_attribute("id") for e in browser.find_elements("css selector", "li.c")]

    def active() -> str:
        return browser.switch_to.active_element.get_attribute("id")

    press(browser, "j", "j")
    assert active() == entries[1] == f"c-{reviews[1].report_id}-1"
    assert browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle") == "solid"
    press(browser, "k")
    assert active() == entries[0]
    press(browser, "n")
    assert active() == f"r-{reviews[1].report_id}"
    press(browser, "p")
    assert active() == f"r-{reviews[0].report_id}"
    press(browser, "?")
    assert browser.find_element("id", "help").is_displayed()
    press(browser, "/")
    assert active() == "fa"
    press(browser, "j")  # typed into the filter, not a move
    assert active() == "fa" and browser.find_element("id", "fa").get_attribute("value") == "j"


# --- deciding in the browser ----------------------------------------------------------------------

CSV_HEADER = "report_id,cell,table,row_label,column_label,value,resolved_value,note"
TRUTH = {"disagree": sample_report(2), "misprint": sample_report(3), "unreadable": sample_report(4)}


def true_value(item, conflict) -> int | float | None:
    """What the printed report says, as tests/test_review.py's decide() fills it in."""
    report = TRUTH[Path(item.source).stem.split("-")[0]]
    return report[conflict.table][conflict.row][conflict.column]


@pytest.fixture
def fresh(browser, url):
    """The page with nothing decided, and nothing left decided for the next test (every page
    opened from a file shares one localStorage)."""
    browser.get(url)
    browser.execute_script("localStorage.clear()")
    browser.get(url)
    yield browser
    browser.execute_script("localStorage.clear()")


def entry(driver, item, n: int = 1):
    return driver.find_element("id", f"c-{item.report_id}-{n}")


def value_input(driver, item, n: int = 1):
    return entry(driver, item, n).find_element("css selector", ".rv")


def button(driver, item, label: str, n: int = 1):
    return entry(driver, item, n).find_element("xpath", f".//button[contains(., '{label}')]")


def progress(driver) -> tuple[str, str]:
    return driver.find_element("id", "done").text, driver.find_element("id", "dl").text


def decisions_csv(driver, tmp_path: Path) -> Path:
    """What the download button saves, without downloading: the function it calls."""
    path = tmp_path / "decisions.csv"
    path.write_text(driver.execute_script("return window.gxllmDecisionsCsv()"), "utf-8", newline="")
    return path


def parsed(path: Path, results: list[dict]) -> list[tuple]:
    return [(d.report_id, d.cell, d.value, d.note) for d in read_decisions(path.read_text("utf-8"), path.name, results)]


def test_decisions_are_counted_checked_and_kept_across_closing_the_page(fresh, url, reviews, batch, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    disagree, misprint, unread = reviews
    assert progress(fresh) == ("已决定 decided 0 / 9", "下载决定 Download decisions.csv (0)")
    assert not fresh.find_element("id", "dl").is_enabled()
    button(fresh, disagree, "use LLM value").click()
    assert value_input(fresh, disagree).get_attribute("value") == "153"
    assert fresh.switch_to.active_element == value_input(fresh, disagree)  # ready for Enter or a note
    value_input(fresh, misprint).send_keys("165")
    entry(fresh, misprint).find_element("css selector", ".no").send_keys('printed 166, "misprint", see p. 3')
    assert progress(fresh) == ("已决定 decided 2 / 9", "下载决定 Download decisions.csv (2)")

    value_input(fresh, unread, 1).send_keys("12件")
    value_input(fresh, unread, 2).send_keys("-1")  # a count
    for n, why in ((1, "不是数字 not a number"), (2, "计数须为非负整数 a count must be a non-negative whole number")):
        bad = value_input(fresh, unread, n)
        assert bad.get_attribute("aria-invalid") == "true" and bad.get_attribute("title").startswith(why)
        assert bad.value_of_css_property("border-top-color") == "rgba(192, 0, 0, 1)"
    assert value_input(fresh, disagree).get_attribute("aria-invalid") is None
    assert progress(fresh)[0] == "已决定 decided 2 / 9"  # invalid values are no decision
    save_full_page(fresh, ARTIFACTS / "review-decisions.png")

    fresh.get("about:blank")  # closed and opened again (not reloaded, which may restore the inputs itself)
    fresh.get(url)
    assert [value_input(fresh, item, n).get_attribute("value") for item, n in ((disagree, 1), (misprint, 1), (unread, 1), (unread, 2))] == [
        "153", "165", "12件", "-1"]  # fmt: skip
    assert value_input(fresh, unread, 2).get_attribute("aria-invalid") == "true"
    assert progress(fresh)[0] == "已决定 decided 2 / 9"
    key = fresh.find_element("id", "bar").get_attribute("data-page")
    stored = fresh.execute_script(f"return localStorage.getItem('gxllm:{key}:{misprint.report_id}:{misprint.conflicts[0].path}')")
    assert stored == '["165","printed 166, \\"misprint\\", see p. 3"]'

    path = decisions_csv(fresh, tmp_path)
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff" + CSV_HEADER + "\r\n") and text.count("\r\n") == 3
    assert text.splitlines()[2] == (
        f"{misprint.report_id},applications.new_received.natural_person,表三,一、本年新收政府信息公开申请数量,自然人,166,165,"
        '"printed 166, ""misprint"", see p. 3"'
    )
    cell = "applications.new_received.natural_person"
    assert parsed(path, batch) == [
        (disagree.report_id, cell, 153, ""),
        (misprint.report_id, cell, 165, 'printed 166, "misprint", see p. 3'),
    ]

    downloads = tmp_path / "downloads"
    fresh.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    fresh.find_element("id", "dl").click()
    saved = downloads / "decisions.csv"
    # (the browser may make the file before it writes it: waited for until it is whole)
    WebDriverWait(fresh, 10).until(lambda _: saved.exists() and saved.stat().st_size >= path.stat().st_size)
    assert saved.read_bytes() == path.read_bytes() and saved.read_bytes().startswith(b"\xef\xbb\xbf")


def test_undecided_only_leaves_what_is_left_and_enter_moves_to_the_next_value(fresh, reviews):
    from selenium.webdriver.common.keys import Keys

    disagree, misprint, unread = reviews
    button(fresh, disagree, "use rule value").click()
    fresh.find_element("id", "fu").click()
    # Committed (the input left), the decided conflict and its report go; the rest stay.
    assert visible_sections(fresh) == [f"r-{misprint.report_id}", f"r-{unread.report_id}"]
    assert fresh.find_element("id", "count").text == "显示 2 / 3 份报告 reports, 8 处冲突 conflicts"
    value_input(fresh, misprint).send_keys("165", Keys.ENTER)
    assert fresh.switch_to.active_element == value_input(fresh, unread, 1)
    assert not entry(fresh, misprint).is_displayed()  # decided and left
    value_input(fresh, unread, 1).send_keys("12件", Keys.ENTER)  # not decided: stays
    assert fresh.switch_to.active_element == value_input(fresh, unread, 2)
    assert entry(fresh, unread, 1).is_displayed()
    press(fresh, Keys.ESCAPE, "k")  # Escape leaves the input for its entry; the keys go on from there
    assert fresh.switch_to.active_element == entry(fresh, unread, 1)
    fresh.find_element("id", "clear").click()
    assert visible_sections(fresh) == [f"r-{item.report_id}" for item in reviews]


def test_decisions_made_in_the_page_resolve_the_batch_through_apply(fresh, reviews, batch, tmp_path):
    """The true values, entered the ways a reviewer would (a button, typing, full-width digits,
    Enter to go on), make every report ok."""
    from selenium.webdriver.common.keys import Keys

    disagree, misprint, unread = reviews
    assert true_value(disagree, disagree.conflicts[0]) == disagree.conflicts[0].rules_value
    button(fresh, disagree, "use rule value").click()
    value_input(fresh, misprint).send_keys(str(true_value(misprint, misprint.conflicts[0])), Keys.ENTER)
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    for n, conflict in enumerate(unread.conflicts, 1):
        assert fresh.switch_to.active_element == value_input(fresh, unread, n)
        typed = str(true_value(unread, conflict))
        fresh.switch_to.active_element.send_keys(typed.translate(full_width) if n == 1 else typed, Keys.ENTER)
    assert progress(fresh)[0] == "已决定 decided 9 / 9"

    results = copy.deepcopy(batch)
    expected = [(item.report_id, c.path, true_value(item, c), "") for item in reviews for c in item.conflicts]
    decisions = read_decisions(decisions_csv(fresh, tmp_path).read_text("utf-8"), "decisions.csv", results)
    assert [(d.report_id, d.cell, d.value, d.note) for d in decisions] == expected
    assert len(apply(results, decisions)) == 3
    assert [r["status"] for r in results] == ["ok"] * 4


def test_the_page_accepts_exactly_the_values_apply_accepts(browser, every_kind, tmp_path):
    """Each text typed into a count, a signed and an amount column: the page takes it as a
    decision exactly when `gxllm apply` does (and flags it otherwise)."""
    (item,) = review([every_kind])
    path = tmp_path / "every-kind.html"
    path.write_text(render_html([every_kind], [item]), "utf-8")
    browser.get(path.as_uri())
    typed = ["12", "１２", "1,234", "1,234.5", "１２．５", "3.0", "12.", ".5", "-0", "-3", "－3", "-2.5", " 7 ",
             "blank", "BLANK", "空", "空白", "12件", "1.2.3", "--1", "abc", "inf"]  # fmt: skip
    for n, conflict in enumerate(item.conflicts, 1):
        found = browser.execute_script(
            """const [id, texts] = arguments, input = document.getElementById(id).querySelector('.rv');
            const type = text => { input.value = text; input.dispatchEvent(new Event('input', {bubbles: true})) };
            const found = texts.map(text => {
              type(text);
              return [input.getAttribute('aria-invalid') === 'true', gxllmDecisionsCsv().split('\\r\\n').length === 3];
            });
            type('');
            return found;""",
            f"c-{item.report_id}-{n}",
            typed,
        )
        for text, (flagged, decided) in zip(typed, found):
            row = io.StringIO()
            csv.writer(row).writerows([["report_id", "cell", "resolved_value"], [item.report_id, conflict.path, text]])
            try:
                read_decisions(row.getvalue(), "d.csv", [every_kind])
                accepted = True
            except DecisionError:
                accepted = False
            assert (decided, flagged) == (accepted, not accepted), (conflict.path, text)


def test_without_storage_decisions_still_count_and_export(fresh, url, reviews, batch, tmp_path):
    """file:// pages and privacy modes may deny localStorage: nothing is kept, the rest works."""
    deny = "Object.defineProperty(window, 'localStorage', {get() { throw new DOMException('denied', 'SecurityError') }})"
    script = fresh.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": deny})
    try:
        fresh.get(url)
        assert fresh.execute_script("try { localStorage } catch (denied) { return denied.name }") == "SecurityError"
        assert fresh.execute_script("return document.documentElement.dataset.ready") is not None
        disagree = reviews[0]
        button(fresh, disagree, "use LLM value").click()
        assert progress(fresh)[0] == "已决定 decided 1 / 9"
        assert parsed(decisions_csv(fresh, tmp_path), batch) == [(disagree.report_id, disagree.conflicts[0].path, 153, "")]
    finally:
        fresh.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)
    fresh.get(url)
    assert progress(fresh)[0] == "已决定 decided 0 / 9"  # nothing was kept


def test_without_javascript_everything_is_visible_and_the_filters_are_not(browser_without_js, url, reviews):
    browser_without_js.get(url)
    assert visible_sections(browser_without_js) == [f"r-{item.report_id}" for item in reviews]
    assert not browser_without_js.find_element("id", "bar").is_displayed()
    assert browser_without_js.find_element("css selector", "html").get_attribute("data-ready") is None
    entries = browser_without_js.find_elements("css selector", "li.c")
    assert len(entries) == sum(len(item.conflicts) for item in reviews) and all(e.is_displayed() for e in entries)
    assert browser_without_js.find_element("id", "nojs").is_displayed()
    forms = browser_without_js.find_elements("css selector", "li.c .d")
    assert len(forms) == len(entries) and not any(f.is_displayed() for f in forms)
    link = browser_without_js.find_element("css selector", f'#idx a[href="#r-{reviews[2].report_id}"]')
    link.click()
    assert browser_without_js.current_url.endswith(f"#r-{reviews[2].report_id}")
