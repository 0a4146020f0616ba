"""gxllm: verified data from 政府信息公开工作年度报告.

    import gxllm
    result = gxllm.extract("report.pdf", llm="never")   # a typed gxllm.Result
    result.status, result.to_json()                       # "ok" / "review" / "failed", the canonical dict
    summary = gxllm.run_batch(["reports/"], gxllm.BatchOptions("run1", llm="never"))
    frame = gxllm.to_frame([result])                      # one row per cell (needs pandas)

Loaded on first use, so that `import gxllm` (and the CLI) stays fast.
"""

__version__ = "0.1.0"

# name -> module that defines it
_API = {
    "extract": "api",
    "to_frame": "api",
    "run_batch": "batch",
    "plan_batch": "batch",
    "BatchOptions": "batch",
    "Summary": "batch",
    "Result": "model",
    "TableReading": "model",
    "CellRef": "model",
    "Provenance": "model",
    "Template": "template",
    "NATIONAL": "template",
    "GxllmError": "errors",
    "InputError": "errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'gxllm' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value
