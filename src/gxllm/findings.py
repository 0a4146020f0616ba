"""Findings: what a person should know about one result, each with a stable kind."""

from __future__ import annotations

from dataclasses import dataclass, field

# Kinds that never make a report need review on their own.
INFORMATIONAL = frozenset({"blank", "absent_optional", "read_by_llm", "digits_split", "ocr_confirmed"})
# Kinds whose cells hold no reading at all: identities over them prove nothing.
UNREAD = ("missing", "unreadable")


@dataclass
class Finding:
    kind: str  # identity, missing, unreadable, unassigned, blank, absent, absent_optional, …
    cells: list[str]
    message: str
    identity: str | None = None
    reported: int | float | None = None  # identity: the printed total side
    computed: int | float | None = None  # identity: the sum of the parts
    blank_as_zero: list[str] = field(default_factory=list)
    # Kind-specific facts, written beside the message (disagreement: both values and the
    # identities each satisfies; llm_failed: attempts, tokens, the last reply).
    details: dict = field(default_factory=dict)

    @property
    def needs_review(self) -> bool:
        return self.kind not in INFORMATIONAL

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind, "cells": self.cells, "message": self.message}
        if self.identity is not None:
            out.update(identity=self.identity, reported=self.reported, computed=self.computed)
        if self.blank_as_zero:
            out["blank_as_zero"] = self.blank_as_zero
        out.update(self.details)
        return out
