"""The tokens a line becomes: what every table reader reads of a printed row."""

from gxllm.load import load
from gxllm.tables.locate import read_lines


def _tokens(text: str) -> list[tuple]:
    lines = read_lines(load(text.encode(), "row.txt"))
    return [(t.kind, t.text, t.value, t.unit, t.line, t.first_in_line, t.values_in_line, t.garbled, t.glued, t.prose)
            for t in lines.tokens]  # fmt: skip


def test_a_row_of_cells_becomes_a_label_and_its_values():
    assert _tokens("| 一、本年新收 | 0000000 | 5 | 注 | - | 1.5万元 |\n7") == [
        ("text", "一、本年新收", None, None, 1, True, 5, False, False, False),
        ("value", "0000000", None, None, 1, False, 5, False, True, False),  # glued digits: cells run together
        ("value", "5", 5, None, 1, False, 5, False, False, False),
        ("value", "注", None, None, 1, False, 5, True, False, False),  # text among the numbers: garbled
        ("value", "-", None, None, 1, False, 5, False, False, False),  # printed blank
        ("value", "1.5万元", 1.5, "万元", 1, False, 5, False, False, False),
        ("value", "7", 7, None, 2, True, 1, False, False, False),
    ]


def test_a_long_or_closed_sentence_is_prose():
    sentence = "本机关" * 21
    assert _tokens(f"{sentence}\n| 说明。 | 3 |") == [
        ("text", sentence, None, None, 1, True, 0, False, False, True),
        ("text", "说明。", None, None, 2, True, 1, False, False, True),
        ("value", "3", 3, None, 2, False, 1, False, False, False),
    ]
