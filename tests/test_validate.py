from gxllm import template as T
from gxllm.result_json import cell_path
from gxllm.tables.validate import validate

SHAPE = T.applications_shape("2021", False)


def zero_table(shape=SHAPE):
    return {r.key: {c.key: 0 for c in shape.columns} for r in shape.rows}


def test_consistent_table_has_no_findings():
    values = zero_table()
    for row in ("new_received", "granted", "total_processed"):
        values[row].update(natural_person=6, total=6)
    assert validate("applications", SHAPE, values) == []


def test_flow_failure_names_identity_cells_and_arithmetic():
    values = zero_table()
    values["new_received"].update(natural_person=6, total=6)
    values["carried_over"].update(natural_person=1, total=1)
    values["granted"].update(natural_person=6, total=6)
    values["total_processed"].update(natural_person=6, total=6)
    findings = validate("applications", SHAPE, values)
    assert [(f.identity, f.message, f.reported, f.computed) for f in findings] == [
        ("T3-flow", "T3-flow 自然人: 一 + 二 = 三(七) + 四: 6+1=7 ≠ 6+0=6", 7, 6),
        ("T3-flow", "T3-flow 总计: 一 + 二 = 三(七) + 四: 6+1=7 ≠ 6+0=6", 7, 6),
    ]
    assert [cell_path(c) for c in findings[0].cells] == [
        "applications.new_received.natural_person",
        "applications.carried_over.natural_person",
        "applications.total_processed.natural_person",
        "applications.carried_forward.natural_person",
    ]


def test_blank_read_as_zero_and_said_so():
    values = zero_table()
    values["granted"].update(natural_person=None, commercial_enterprise=2, total=3)
    findings = [f for f in validate("applications", SHAPE, values) if f.identity == "T3-row"]
    assert len(findings) == 1
    assert [cell_path(c) for c in findings[0].blank_as_zero] == ["applications.granted.natural_person"]
    assert findings[0].message.endswith(
        "3=3 ≠ 0+2+0+0+0+0=2 (blank read as 0: applications.granted.natural_person)"
    )


def test_identities_over_unread_cells_are_skipped():
    values = zero_table()
    values["granted"] = dict.fromkeys(values["granted"])
    for row in ("new_received", "total_processed"):  # T3-results would need granted
        values[row].update(natural_person=5, total=5)
    unread = {T.CellRef("applications", "granted", c.key) for c in SHAPE.columns}
    assert validate("applications", SHAPE, values, unread) == []


def test_subtotal_checked_only_where_printed():
    shape = T.applications_shape("2019", True)
    values = zero_table(shape)
    values["new_received"].update(commercial_enterprise=2, legal_person_subtotal=3, total=2)
    values["total_processed"].update(commercial_enterprise=2, legal_person_subtotal=2, total=2)
    values["granted"].update(commercial_enterprise=2, legal_person_subtotal=2, total=2)
    assert [f.message for f in validate("applications", shape, values)] == [
        "T3-subtotal 一、本年新收政府信息公开申请数量: 法人或其他组织小计 = 五类组织之和: 3=3 ≠ 2+0+0+0+0=2",
        "T3-flow 法人或其他组织小计: 一 + 二 = 三(七) + 四: 3+0=3 ≠ 2+0=2",
    ]


def test_counts_must_be_non_negative_integers_but_change_may_be_negative():
    shape = T.active_disclosure_shape("2019")
    values = {r.key: {c.key: 0 for c in shape.columns_of(r)} for r in shape.rows}
    values["administrative_licensing"]["change"] = -3
    values["administrative_penalty"]["decisions"] = 2.5
    values["government_procurement"]["total_amount"] = 12.75
    findings = validate("active_disclosure", shape, values)
    assert [(f.identity, [cell_path(c) for c in f.cells], f.message) for f in findings] == [
        ("counts", ["active_disclosure.administrative_penalty.decisions"], "counts 行政处罚 处理决定数量: 2.5 is not a non-negative integer"),
    ]


def test_review_totals():
    values = {r.key: {"upheld": 1, "corrected": 1, "other": 0, "pending": 0, "total": 2} for r in T.REVIEW_ROWS}
    values["lawsuit_direct"]["total"] = 0
    findings = validate("reviews_and_lawsuits", T.REVIEWS_SHAPE, values)
    assert [f.message for f in findings] == [
        "T4-total 行政诉讼·未经复议直接起诉: 总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结: 0=0 ≠ 1+1+0+0=2"
    ]
