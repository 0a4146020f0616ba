"""Agency and year of a report, read from its title, header fields and text.

Pure functions of the normalised lines (whitespace removed). Each finder returns None rather
than a guess when the text does not say.
"""

from __future__ import annotations

import re

_TITLE = re.compile(r"(20\d{2})年度?(?:.{0,30}?)政府信息公开(?:工作)?(?:年度)?报告")
_PERIOD = re.compile(r"统计期限.{0,3}?(20\d{2})年")
_YEAR_OF_REPORT = re.compile(r"(20\d{2})年度")
_FIELD = re.compile(r"(?:发布机构|发文机构|发布单位|信息来源|来源)[:：](?P<agency>[^|:：]{2,30}?)(?:\||主题分类|发布日期|发布时间|$)")
_COMPILED_BY = re.compile(r"由(?P<agency>[\u4e00-\u9fff]{2,30}?)(?:结合|根据|编制|负责)")
_AGENCY_SUFFIX = re.compile(r"(?:人民政府|政府|办公室|委员会|局|厅|部|署|院|中心|街道|办事处|乡|镇|管委会|委|会|所|处|队|站|馆|公司)$")
_DATE = re.compile(r"^20\d{2}年\d{1,2}月\d{1,2}日$")


def find_year(lines: list[str]) -> int | None:
    head = lines[:60]
    for pattern, scope in ((_TITLE, head), (_PERIOD, lines), (_TITLE, lines), (_YEAR_OF_REPORT, head)):
        for line in scope:
            match = pattern.search(line)
            if match:
                return int(match.group(1))
    return None


def _from_title(lines: list[str]) -> str | None:
    for i, line in enumerate(lines[:60]):
        match = _TITLE.search(line)
        if not match or len(line) > 80:
            continue
        before = re.split(r"[:：|]", line[: match.start()])[-1]
        between = line[match.start() + len(match.group(1)) : match.end()]
        between = re.sub(r"^年度?|政府信息公开.*$", "", between)
        if before:
            return before
        if between:
            return between
        previous = next((p for p in reversed(lines[max(0, i - 3) : i]) if p), "")
        if previous and len(previous) <= 30 and _AGENCY_SUFFIX.search(previous):
            return previous
    return None


def _from_fields(lines: list[str]) -> str | None:
    for line in lines[:60]:
        match = _FIELD.search(line)
        if match and _AGENCY_SUFFIX.search(match.group("agency")):
            return match.group("agency")
    return None


def _from_compiler(lines: list[str]) -> str | None:
    for line in lines[:60]:
        match = _COMPILED_BY.search(line)
        if match:
            return re.sub(r"(人民政府)办公室$", r"\1", match.group("agency"))
    return None


def _from_signature(lines: list[str]) -> str | None:
    tail = [line for line in lines[-12:] if line]
    for line, following in zip(tail, tail[1:]):
        if _DATE.match(following) and len(line) <= 30 and _AGENCY_SUFFIX.search(line):
            return line
    return None


def _official(agency: str) -> str:
    """乡政府 → 乡人民政府: the short form of a government's name."""
    return re.sub(r"(?<=[乡镇县区市旗])政府$", "人民政府", agency)


_CITY = re.compile("[\u4e00-\u9fff]{2,4}[市州盟]")


def _with_city(agency: str, text: str) -> str:
    """A title may drop the city (洪泽区人民政府) that the text prints (淮安市洪泽区人民政府).

    The city is the 2–4 character …市/州/盟 right before the name that the text uses most.
    """
    prefixes = set()
    at = text.find(agency)
    while at != -1:
        prefixes.update(p for n in (2, 3, 4) if _CITY.fullmatch(p := text[max(0, at - n - 1) : at]) and len(p) == n + 1)
        at = text.find(agency, at + len(agency))
    if not prefixes:
        return agency
    best = max(sorted(prefixes, key=len), key=text.count)
    return best + agency


def find_agency(lines: list[str]) -> str | None:
    text = "".join(lines[:80])
    title = _from_title(lines)
    if title:
        return _with_city(_official(title), text)
    for finder in (_from_fields, _from_compiler, _from_signature):
        agency = finder(lines)
        if agency:
            return _official(agency)
    return None
