"""A hard cap on what the LLM may cost: a call that could cross it is not made.

Every call that the cache cannot answer is first reserved at its worst case
(`TableReader.worst_case`: an upper bound of the tokens one read can be billed, retries
included), and made only if what was spent, plus what is reserved by the calls in flight, plus
this reservation stays within the caps. The read is then held to that worst case on the wire
(`RequestMeter`: a request that could exceed it is not sent), and when it ends the reservation is
replaced by what was really billed. So, as long as a provider bills no more input tokens than the
bytes it is sent (plus a small envelope), spending never exceeds the caps, however many threads
ask at once.

Amounts are in the price table's currency (`LLMSettings.prices`).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .. import template as T
from ..errors import BudgetError
from ..settings import LOCAL, LLMSettings
from .client import RequestMeter, TableReader
from .request import LLMAnswer

log = logging.getLogger(__name__)

_ids = itertools.count(1)


@dataclass(frozen=True)
class Reservation:
    cost: float
    tokens: int
    id: int


class Budget:
    """Caps on cost and tokens, shared by threads. `None` means no cap on that amount.

    `spent_cost` / `spent_tokens` start from what earlier runs spent (a resumed batch). A
    negative cap raises BudgetError.
    """

    def __init__(
        self,
        max_cost: float | None = None,
        max_tokens: int | None = None,
        *,
        spent_cost: float = 0.0,
        spent_tokens: int = 0,
    ):
        if max_cost is not None and max_cost < 0 or max_tokens is not None and max_tokens < 0:
            raise BudgetError("a budget cap cannot be negative")
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self._spent_cost = float(spent_cost)
        self._spent_tokens = int(spent_tokens)
        self._open: dict[int, Reservation] = {}
        self._refused = 0
        self._changed = threading.Condition(threading.Lock())

    @classmethod
    def for_settings(
        cls,
        settings: LLMSettings,
        max_cost: float | None = None,
        max_tokens: int | None = None,
        *,
        spent_cost: float = 0.0,
        spent_tokens: int = 0,
    ) -> Budget:
        """The budget of calls made with `settings`. A cost cap needs the model's price (a local
        model is free): without one every call would count as 0 and the cap would hold nothing,
        so that raises BudgetError."""
        if max_cost is not None and settings.prices[:2] == (0.0, 0.0) and settings.endpoint != LOCAL:
            raise BudgetError(
                f"--max-cost needs the price of {settings.effective_model}, which is not in the price table; "
                "give --price-in and --price-out (per 1M tokens)"
            )
        return cls(max_cost, max_tokens, spent_cost=spent_cost, spent_tokens=spent_tokens)

    # -- what it holds ----------------------------------------------------------------------
    @property
    def spent_cost(self) -> float:
        with self._changed:
            return self._spent_cost

    @property
    def spent_tokens(self) -> int:
        with self._changed:
            return self._spent_tokens

    @property
    def reserved_cost(self) -> float:
        with self._changed:
            return math.fsum(r.cost for r in self._open.values())

    @property
    def reserved_tokens(self) -> int:
        with self._changed:
            return sum(r.tokens for r in self._open.values())

    @property
    def refused(self) -> int:
        """Calls not made: reservations refused."""
        with self._changed:
            return self._refused

    def describe(self, currency: str = "") -> str:
        """The caps, for messages: "max cost 0.5 USD / max tokens 20000"."""
        caps = []
        if self.max_cost is not None:
            caps.append(f"max cost {self.max_cost:g}{' ' + currency if currency else ''}")
        if self.max_tokens is not None:
            caps.append(f"max tokens {self.max_tokens}")
        return " / ".join(caps) or "no cap"

    # -- reserving and settling ---------------------------------------------------------------
    def _fits(self, cost: float, tokens: int, with_open: bool) -> bool:
        held = list(self._open.values()) if with_open else []
        if self.max_cost is not None and math.fsum([self._spent_cost, cost, *(r.cost for r in held)]) > self.max_cost:
            return False
        if self.max_tokens is not None and self._spent_tokens + tokens + sum(r.tokens for r in held) > self.max_tokens:
            return False
        return True

    def reserve(self, cost: float, tokens: int, *, wait: bool = False) -> Reservation | None:
        """Hold `cost` and `tokens` for one call; None (the call must not be made) when spent +
        reserved + this would exceed a cap.

        With `wait`, a call that does not fit only because of reservations still open waits for
        them to be settled (they usually cost far less than their worst case) instead of being
        refused; it is refused as soon as what is already spent leaves no room for it.
        """
        if cost < 0 or tokens < 0:
            raise ValueError("a reservation cannot be negative")
        with self._changed:
            while True:
                if self._fits(cost, tokens, with_open=True):
                    reservation = Reservation(cost, tokens, next(_ids))
                    self._open[reservation.id] = reservation
                    return reservation
                if not wait or not self._open or not self._fits(cost, tokens, with_open=False):
                    self._refused += 1
                    return None
                self._changed.wait()

    def settle(self, reservation: Reservation, cost: float, tokens: int) -> None:
        """Replace a reservation by what the call really cost (failed calls included)."""
        with self._changed:
            if self._open.pop(reservation.id, None) is None:
                raise ValueError(f"reservation {reservation.id} is not open (settled twice?)")
            self._spent_cost += cost
            self._spent_tokens += tokens
            self._changed.notify_all()
        if cost > reservation.cost * (1 + 1e-9) or tokens > reservation.tokens:
            # The worst case was not one: a bug in TableReader.worst_case (or a provider billing
            # more tokens than bytes sent). The real amount is recorded all the same.
            log.error(
                "an LLM call cost more than its worst case: %.6f > %.6f, %d > %d tokens",
                cost, reservation.cost, tokens, reservation.tokens,
            )  # fmt: skip


class BudgetedReader:
    """A `reader` for `extract_document` that asks the LLM only within a budget.

    A cached answer is read without a reservation. Otherwise the call is reserved at its worst
    case; refused, it returns an answer with `budget=True` and no values (the rule values stay,
    with a `budget` finding); made, it is held to that worst case on the wire and settled at
    what it cost, failed attempts included; a request that got no reply (a timeout) is counted at
    its bound, since the provider may have billed it. `on_call` sees every answer that was asked.

    `wait`: see `Budget.reserve`; on by default, so that calls in flight do not get others refused.
    """

    def __init__(
        self,
        reader: TableReader,
        budget: Budget,
        *,
        on_call: Callable[[LLMAnswer], None] | None = None,
        wait: bool = True,
    ):
        self.reader = reader
        self.budget = budget
        self.on_call = on_call
        self.wait = wait

    def __call__(self, shape: T.Shape, text: str) -> LLMAnswer:
        reader, settings = self.reader, self.reader.settings
        if reader.cached(shape, text):
            # A limit of nothing: if the entry vanished meanwhile, the call is not made unreserved.
            return reader.read(shape, text, meter=RequestMeter(limit=(0, 0)))
        worst_input, worst_output = reader.worst_case(shape, text)
        reservation = self.budget.reserve(settings.cost(worst_input, worst_output), worst_input + worst_output, wait=self.wait)
        if reservation is None:
            caps = self.budget.describe(settings.prices[2])
            return LLMAnswer(shape.table, reader.model, reader.mode, budget=True,
                             error=f"not asked: the budget ({caps}) would be exceeded")  # fmt: skip
        meter = RequestMeter(limit=(worst_input, worst_output))
        try:
            answer = reader.read(shape, text, meter=meter)
        except BaseException:
            self.budget.settle(reservation, reservation.cost, reservation.tokens)  # unknown: the worst
            raise
        if (answer.input_tokens or answer.output_tokens) and not meter.requests:
            log.error("the LLM client bypassed the request meter: this call was not held to its worst case")
        input_tokens = answer.input_tokens + meter.unanswered_input
        output_tokens = answer.output_tokens + meter.unanswered_output
        self.budget.settle(reservation, settings.cost(input_tokens, output_tokens), input_tokens + output_tokens)
        if self.on_call is not None:
            self.on_call(answer)
        return answer
