"""Prices per 1M tokens (input, output) of common models, in USD as the providers list them.

Prices change: override them with --price-in/--price-out, GXLLM_PRICE_IN/GXLLM_PRICE_OUT or
`price_in`/`price_out` in the config file. An unknown model costs 0 until a price is given,
and `gxllm config` says so.
"""

from __future__ import annotations

CURRENCY = "USD"

PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
    "qwen-plus": (0.40, 1.20),
    "qwen-turbo": (0.05, 0.20),
    "qwen-max": (1.60, 6.40),
    "glm-4-flash": (0.0, 0.0),
}


def price_of(model: str, *, local: bool = False) -> tuple[float, float, str]:
    """(input, output, currency) for a model; a local model is free, an unknown one 0 (unpriced)."""
    if local:
        return 0.0, 0.0, CURRENCY
    listed = PRICES.get(model) or PRICES.get(model.rsplit("/", 1)[-1])  # "openai/gpt-4o-mini" too
    return (*(listed or (0.0, 0.0)), CURRENCY)
