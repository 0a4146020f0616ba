"""The Python API: every docstring example runs, from the repository root (its paths are the fixtures')."""

import doctest
from pathlib import Path

import pytest

import gxllm
import gxllm.api
import gxllm.batch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", [gxllm.api, gxllm.batch], ids=lambda m: m.__name__)
def test_docstring_examples_run(module, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("GXLLM_CONFIG", str(tmp_path / "none.toml"))  # no user config: rules only
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
    assert tried > 0


def test_public_names_resolve_lazily():
    for name in gxllm.__all__:
        assert getattr(gxllm, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gxllm.nope
