"""The HTML review page: what it shows (pure tests on the markup) and how it behaves in a real,
headless Chromium (filters, keys, JavaScript off, nothing fetched)."""

from __future__ import annotations

import copy
import re
from html import escape

import pytest
from browser import ARTIFACTS, chromium_fixture, save_full_page
from layouts import render_pipe_cells, sample_report, sample_report_2019, with_subtotal
from review_cases import (
    extract_rendered,
    reader_answering,
    consistent,
    disagreeing,
    misprinted,
    unreadable,
)

from gxllm import template as T
from gxllm.extract import extract_bytes
from gxllm.normalize import normalize_text, squeeze
from gxllm.output import shape_of
from gxllm.review import KIND_LABELS, review
from gxllm.review_html import render_html
from gxllm.validate import number

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
    assert "<code>applications.new_received.natural_person</code>" in html
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
    assert f'<li class="c" id="c-{rid}-1" tabindex="-1" data-k="identity" data-i="T3-flow T3-row">' in html
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
    """表二 (2019: a header row each time the columns change), 表三 with 小计, 表四 in one row of 15."""
    result = every_table
    item = review([result])[0]
    html = section_of(render_html([result], [item]), item.report_id)
    assert [t.number for t in T.TABLES if f"<h3>{t.number} " in html] == ["表二", "表三", "表四"]
    t2, t3, t4 = (html.split(f"<h3>{t.number} ")[1].split("</table>")[0] for t in T.TABLES)

    rows = T.ACTIVE_DISCLOSURE_ROWS["2019"]
    column_sets = [r.columns for i, r in enumerate(rows) if i == 0 or r.columns != rows[i - 1].columns]
    assert t2.count("<tr><th></th>") == len(column_sets)
    assert all(f"<th>{r.label}</th>" in t2 for r in rows)

    columns = shape_of(result, "applications").columns
    assert T.SUBTOTAL_COLUMN in columns
    assert f'<th colspan="{len(columns)}">申请人情况</th>' in t3
    assert '<th rowspan="2">自然人</th><th colspan="6">法人或其他组织</th><th rowspan="2">总计</th>' in t3
    assert "".join(f"<th>{c.label}</th>" for c in T.ORGANISATION_COLUMNS) + "<th>小计</th>" in t3

    assert '<th colspan="5" rowspan="2">行政复议</th><th colspan="10">行政诉讼</th>' in t4
    assert '<th colspan="5">未经复议直接起诉</th><th colspan="5">复议后起诉</th>' in t4
    assert t4.count("<th>结果维持</th>") == 3
    body = t4.split("<tbody>")[1]
    assert body.count("<tr>") == 1 and body.count("<td") == 15
    values = result["reviews_and_lawsuits"]
    printed = [number(values[r.key][c.key]) for r in T.REVIEW_ROWS for c in T.REVIEW_COLUMNS]
    assert re.findall(r"<td[^>]*>(?:<a[^>]*>)?([^<]*)", body) == printed


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
    browser.find_element("id", "fa").send_keys(reviews[2].report["agency"])
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


def test_without_javascript_everything_is_visible_and_the_filters_are_not(browser_without_js, url, reviews):
    browser_without_js.get(url)
    assert visible_sections(browser_without_js) == [f"r-{item.report_id}" for item in reviews]
    assert not browser_without_js.find_element("id", "bar").is_displayed()
    assert browser_without_js.find_element("css selector", "html").get_attribute("data-ready") is None
    entries = browser_without_js.find_elements("css selector", "li.c")
    assert len(entries) == sum(len(item.conflicts) for item in reviews) and all(e.is_displayed() for e in entries)
    link = browser_without_js.find_element("css selector", f'#idx a[href="#r-{reviews[2].report_id}"]')
    link.click()
    assert browser_without_js.current_url.endswith(f"#r-{reviews[2].report_id}")
