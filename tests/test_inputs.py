"""The batch input stage: collecting files, folders, globs, URLs and list files; fetching URLs.

Offline: fetch talks to a ThreadingHTTPServer on 127.0.0.1 started per test module.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gxllm import __version__
from gxllm.errors import InputError
from gxllm.load import MAX_BYTES
from gxllm.run import inputs
from gxllm.run.inputs import Input, collect, fetch, fetched_path

PDF = b"%PDF-1.7\n% a report\n"
HTML = "<html><body><table><tr><td>规章</td><td>0</td></tr></table></body></html>".encode()


def files(*paths: str) -> list[Input]:
    return [Input(p, False) for p in paths]


def write(path: Path, data: bytes | str = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def message(call) -> str:
    with pytest.raises(InputError) as e:
        call()
    return str(e.value)


# --- collect ---------------------------------------------------------------------------------


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_folder_is_searched_recursively_sorted_skipping_hidden_run_folders_and_other_files(cwd):
    for name in ["r/b.pdf", "r/a.DOCX", "r/sub/z.html", "r/sub/deeper/c.txt", "r/a0/k.md", "r/x.shtml",
                 "r/.hidden.pdf", "r/.git/h.pdf", "r/~$lock.docx", "r/notes.xlsx", "r/img.png",
                 "r/run1/gxllm.sqlite", "r/run1/downloads/0123456789abcdef.pdf", "r/run1/results.html"]:  # fmt: skip
        write(cwd / name, "报告")
    assert collect(["r"]) == files("r/a.DOCX", "r/a0/k.md", "r/b.pdf", "r/sub/deeper/c.txt", "r/sub/z.html",
                                   "r/x.shtml")  # fmt: skip
    assert collect(["r/"])[0] == Input("r/a.DOCX", False)  # as found under the name given
    assert collect([str(cwd / "r")])[0].source == str(cwd / "r" / "a.DOCX")


def test_a_named_run_folder_is_still_searched(cwd):
    write(cwd / "run1/gxllm.sqlite")
    write(cwd / "run1/downloads/a.pdf", PDF)
    assert collect(["run1"]) == files("run1/downloads/a.pdf")


def test_symlinked_folders_are_followed_once(cwd):
    write(cwd / "r/a.pdf", PDF)
    (cwd / "r/loop").symlink_to(cwd / "r", target_is_directory=True)
    assert collect(["r"]) == files("r/a.pdf")


def test_files_are_taken_as_named_whatever_their_suffix(cwd):
    write(cwd / "a.pdf", PDF)
    write(cwd / "b.xlsx")
    write(cwd / ".hidden.txt", "报告")
    assert collect(["b.xlsx", "a.pdf", ".hidden.txt"]) == files("b.xlsx", "a.pdf", ".hidden.txt")


def test_urls_are_kept_and_not_fetched():
    assert collect(["https://www.gov.cn/a.pdf", "HTTP://example.org/x?id=1"]) == [
        Input("https://www.gov.cn/a.pdf", True),
        Input("HTTP://example.org/x?id=1", True),
    ]


def test_globs_recursive_sorted_and_run_folders_skipped(cwd):
    for name in ["r/2023/b.pdf", "r/2022/a.pdf", "r/a.pdf", "r/2023/c.html", "r/run/gxllm.sqlite",
                 "r/run/downloads/d.pdf"]:  # fmt: skip
        write(cwd / name, PDF)
    assert collect(["r/**/*.pdf"]) == files("r/2022/a.pdf", "r/2023/b.pdf", "r/a.pdf")
    assert collect(["r/2023/*"]) == files("r/2023/b.pdf", "r/2023/c.html")
    assert collect(["r/*"]) == files("r/2022/a.pdf", "r/2023/b.pdf", "r/2023/c.html", "r/a.pdf")  # folders searched
    assert collect(["r/run/*/*.pdf"]) == files("r/run/downloads/d.pdf")  # named explicitly: taken


def test_an_existing_name_with_glob_characters_is_a_file(cwd):
    write(cwd / "report[1].pdf", PDF)
    assert collect(["report[1].pdf"]) == files("report[1].pdf")


def test_list_file_with_relative_paths_urls_comments_and_folders(cwd):
    write(cwd / "data/r/a.pdf", PDF)
    write(cwd / "data/r/sub/b.html", HTML)
    write(cwd / "data/c.docx")
    write(cwd / "elsewhere/d.txt", "某某市人民政府2023年政府信息公开工作年度报告")
    write(cwd / "data/urls.txt", "\ufeff# reports of 2023\n\n"
          "  c.docx  \n"
          "https://www.gov.cn/2023.pdf\n"
          "   # indented comment\n"
          "r\n"
          "../elsewhere/d.txt\r\n"
          f"{cwd / 'data/c.docx'}\n")  # fmt: skip
    assert collect(["data/urls.txt"]) == [
        Input("data/c.docx", False),
        Input("https://www.gov.cn/2023.pdf", True),
        Input("data/r/a.pdf", False),
        Input("data/r/sub/b.html", False),
        Input("elsewhere/d.txt", False),
    ]


def test_lst_list_in_gbk_and_nested_lists(cwd):
    write(cwd / "年报/甲.pdf", PDF)
    write(cwd / "lists/inner.list", "../年报/甲.pdf\nhttp://example.org/b.html\n".encode("gbk"))
    write(cwd / "lists/outer.lst", "inner.list\n")
    assert collect(["lists/outer.lst"]) == [Input("年报/甲.pdf", False), Input("http://example.org/b.html", True)]


def test_lists_nest_three_levels_not_four(cwd):
    write(cwd / "a.pdf", PDF)
    write(cwd / "l3.txt", "a.pdf\n")
    write(cwd / "l2.txt", "l3.txt\n")
    write(cwd / "l1.txt", "l2.txt\n")
    assert collect(["l1.txt"]) == files("a.pdf")
    write(cwd / "l0.txt", "l1.txt\n")
    assert message(lambda: collect(["l0.txt"])) == (
        "l2.txt, line 1: l3.txt: list files nested more than 3 deep (does a list name itself?); "
        "name the reports directly"
    )
    write(cwd / "self.lst", "self.lst\n")
    assert message(lambda: collect(["self.lst"])).endswith(
        "self.lst: list files nested more than 3 deep (does a list name itself?); name the reports directly"
    )


def test_a_txt_that_is_not_a_list_is_a_report(cwd):
    write(cwd / "a.pdf", PDF)
    write(cwd / "report.txt", "a.pdf\n某某市人民政府2023年政府信息公开工作年度报告\n一、总体情况\n")
    write(cwd / "empty.txt", "")
    write(cwd / "comments.txt", "# only a comment\n")
    write(cwd / "utf16.txt", "一、总体情况\n".encode("utf-16"))
    assert collect(["report.txt", "empty.txt", "comments.txt", "utf16.txt"]) == files(
        "report.txt", "empty.txt", "comments.txt", "utf16.txt"
    )


def test_a_list_in_a_folder_is_neither_followed_nor_a_report(cwd):
    write(cwd / "r/a.pdf", PDF)
    write(cwd / "r/urls.txt", "https://www.gov.cn/a.pdf\n")
    write(cwd / "r/report.txt", "一、总体情况\n")
    assert collect(["r"]) == files("r/a.pdf", "r/report.txt")


def test_duplicates_are_kept_once_in_first_order(cwd):
    write(cwd / "r/a.pdf", PDF)
    write(cwd / "r/b.pdf", PDF)
    write(cwd / "list.txt", "r/b.pdf\nhttps://www.gov.cn/x.pdf#page=2\n")
    got = collect(["r/b.pdf", "list.txt", "r", "./r/a.pdf", str(cwd / "r/b.pdf"), "https://WWW.GOV.CN/x.pdf",
                   "r/*.pdf"])  # fmt: skip
    assert got == [Input("r/b.pdf", False), Input("https://www.gov.cn/x.pdf#page=2", True), Input("r/a.pdf", False)]


def test_collect_errors(cwd):
    (cwd / "empty").mkdir()
    write(cwd / "nothing/notes.xlsx")
    write(cwd / "nothing/.hidden.pdf", PDF)
    write(cwd / "onlylist/urls.txt", "https://www.gov.cn/a.pdf\n")
    write(cwd / "typo.txt", "a.pdf\nb.pdf\n")
    write(cwd / "bad.lst", "# reports\n\nnot a path\n")
    write(cwd / "blank.lst", "# nothing yet\n")
    write(cwd / "binary.lst", b"\x00\x01\x02")
    write(cwd / "dir.txt", "empty\n")
    write(cwd / "a.pdf", PDF)
    cases = {
        "missing.pdf": "missing.pdf: no such file, folder or URL",
        "ftp://example.org/a.pdf": "ftp://example.org/a.pdf: no such file, folder or URL",
        "https://": "https://: no such file, folder or URL",
        "": ": no such file, folder or URL",
        "empty": "empty: no report files (.pdf .docx .html .txt …) in folder",
        "nothing": "nothing: no report files (.pdf .docx .html .txt …) in folder",
        "onlylist": "onlylist: no report files (.pdf .docx .html .txt …) in folder",
        "reports/**/*.pdf": "reports/**/*.pdf: no file matches",
        "*.docx": "*.docx: no file matches",
        "typo.txt": "typo.txt, line 2: b.pdf: no such file, folder or URL",
        "bad.lst": "bad.lst, line 3: not a path: no such file, folder or URL",
        "blank.lst": "blank.lst: the list names no reports; put one path or URL a line",
        "binary.lst": "binary.lst: cannot read this list file; save it as UTF-8 text, one path or URL a line",
        "dir.txt": "dir.txt, line 1: empty: no report files (.pdf .docx .html .txt …) in folder",
    }
    for spec, expected in cases.items():
        assert message(lambda spec=spec: collect(["a.pdf", spec])) == expected, spec


def test_list_lines_are_not_globs(cwd):
    write(cwd / "a.pdf", PDF)
    write(cwd / "globs.lst", "*.pdf\n")
    assert message(lambda: collect(["globs.lst"])) == "globs.lst, line 1: *.pdf: no such file, folder or URL"


# --- fetch: the test server ------------------------------------------------------------------

BIG = 1024 * 1024  # the max_bytes the streaming tests use


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: list[str] = []
        self.release = threading.Event()  # ends the slow route's wait

    def handle_error(self, request, client_address):  # a client that gave up: not a test failure
        pass

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def count(self, path: str) -> int:
        return self.hits.count(path)


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args):
        pass

    def send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None, length: bool = True):
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = urllib.parse.unquote(self.path)
        self.server.hits.append(path)
        n = self.server.count(path)
        if path in ("/report.pdf", "/report.pdf?again", "/年报/2023年报告.pdf"):
            self.send(200, PDF, {"Content-Type": "application/pdf"})
        elif path == "/download.jsp?id=7":
            self.send(200, HTML, {"Content-Type": "text/html; charset=utf-8"})
        elif path == "/word":
            self.send(200, b"PK\x03\x04", {"Content-Type": "application/vnd.openxmlformats-officedocument"
                                                           ".wordprocessingml.document"})  # fmt: skip
        elif path == "/text":
            self.send(200, "报告".encode(), {"Content-Type": "text/plain; charset=utf-8"})
        elif path == "/attachment?fileId=9":
            self.send(200, b"PK\x03\x04", {"Content-Type": "application/octet-stream",
                                           "Content-Disposition": "attachment; filename*=UTF-8''%E5%B9%B4%E6%8A%A5.docx"})  # fmt: skip
        elif path == "/octet":
            self.send(200, b"\x01\x02", {"Content-Type": "application/octet-stream"})
        elif path == "/untyped":
            self.send(200, b"\x01\x02")
        elif path == "/moved":
            self.send(302, b"", {"Location": "/report.pdf"})
        elif path == "/gzip":
            self.send(200, gzip.compress(HTML), {"Content-Type": "text/html", "Content-Encoding": "gzip"})
        elif path == "/bomb":
            self.send(200, gzip.compress(bytes(BIG + 1)), {"Content-Type": "text/html", "Content-Encoding": "gzip"})
        elif path == "/missing.pdf":
            self.send(404, b"not here", {"Content-Type": "text/html"})
        elif path == "/forbidden":
            self.send(403)
        elif path == "/flaky.pdf":
            self.send(500) if n == 1 else self.send(200, PDF, {"Content-Type": "application/pdf"})
        elif path == "/busy.pdf":
            self.send(429, headers={"Retry-After": "0"}) if n == 1 else self.send(200, PDF)
        elif path == "/later.pdf":
            self.send(429, headers={"Retry-After": "3600"}) if n == 1 else self.send(200, PDF)
        elif path == "/down.pdf":
            self.send(503, headers={"Retry-After": "0"})
        elif path == "/slow.pdf":
            self.server.release.wait(2)
            self.send(200, PDF)
        elif path == "/huge.pdf":
            self.send_response(200)
            self.send_header("Content-Length", str(MAX_BYTES + 1))
            self.end_headers()
        elif path == "/stream.pdf":  # no Content-Length: the body ends when the connection closes
            self.send_response(200)
            self.end_headers()
            for _ in range(BIG // 65536 + 2):
                self.wfile.write(bytes(65536))
        elif path in ("/cut.pdf", "/cut.pdf?backoff"):  # promises more than it sends, every time
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(PDF)
        else:
            self.send(404)


@pytest.fixture(scope="module")
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def fast_and_direct(monkeypatch):
    """Tiny back-off; no proxy from the environment between the tests and 127.0.0.1."""
    monkeypatch.setattr(inputs, "_WAIT", 0.001)
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def stem(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- fetch: success --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, suffix, body",
    [
        ("/report.pdf", ".pdf", PDF),  # from the URL path
        ("/年报/2023年报告.pdf", ".pdf", PDF),  # non-ASCII path, percent-encoded on the wire
        ("/download.jsp?id=7", ".html", HTML),  # from Content-Type
        ("/word", ".docx", b"PK\x03\x04"),
        ("/text", ".txt", "报告".encode()),
        ("/attachment?fileId=9", ".docx", b"PK\x03\x04"),  # from Content-Disposition's file name
        ("/moved", ".pdf", PDF),  # from the redirected URL
        ("/octet", ".bin", b"\x01\x02"),
        ("/untyped", ".bin", b"\x01\x02"),
        ("/gzip", ".html", HTML),  # Content-Encoding the server sent unasked: decoded
    ],
)
def test_fetch_saves_under_the_url_hash(server, tmp_path, path, suffix, body):
    url = server.url(path)
    folder = tmp_path / "downloads"
    got = fetch(url, folder)
    assert got == folder / f"{stem(url)}{suffix}"
    assert got.read_bytes() == body
    assert leftovers(folder) == [got.name]
    assert fetched_path(url, folder) == got


def test_fetch_sends_a_gxllm_user_agent(tmp_path):
    seen = []

    class Echo(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.headers["User-Agent"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    with ThreadingHTTPServer(("127.0.0.1", 0), Echo) as srv:
        threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True).start()
        fetch(f"http://127.0.0.1:{srv.server_address[1]}/a.txt", tmp_path)
        srv.shutdown()
    assert seen == [f"gxllm/{__version__}"]


def test_a_fetched_file_is_never_fetched_again(server, tmp_path):
    url = server.url("/report.pdf?again")
    before = server.count("/report.pdf?again")
    first = fetch(url, tmp_path)
    assert fetch(url, tmp_path) == first
    assert fetch(url, tmp_path, timeout=0.001) == first
    assert server.count("/report.pdf?again") == before + 1


def test_fetched_path_without_a_download(server, tmp_path):
    assert fetched_path(server.url("/report.pdf"), tmp_path) is None
    assert fetched_path(server.url("/report.pdf"), tmp_path / "not-yet") is None
    url = "https://example.org/download?id=1"  # suffix unknown before the request: any fetch suffix
    write(tmp_path / f"{stem(url)}.html", HTML)
    assert fetched_path(url, tmp_path) == tmp_path / f"{stem(url)}.html"


def test_retries_a_500_then_succeeds(server, tmp_path):
    got = fetch(server.url("/flaky.pdf"), tmp_path)
    assert got.read_bytes() == PDF
    assert server.count("/flaky.pdf") == 2


def test_retries_a_429_honouring_retry_after(server, tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "_WAIT", 60.0)  # were Retry-After ignored, this test would hang
    started = time.monotonic()
    assert fetch(server.url("/busy.pdf"), tmp_path).read_bytes() == PDF
    assert server.count("/busy.pdf") == 2
    assert time.monotonic() - started < 2


def test_retry_after_is_honoured_up_to_30_seconds(server, tmp_path, monkeypatch):
    import tenacity.nap

    slept = []
    monkeypatch.setattr(tenacity.nap.time, "sleep", slept.append)
    assert fetch(server.url("/later.pdf"), tmp_path).read_bytes() == PDF
    assert slept == [30.0]


def test_back_off_doubles_with_jitter(server, tmp_path, monkeypatch):
    import tenacity.nap

    slept = []
    monkeypatch.setattr(inputs, "_WAIT", 1.0)
    monkeypatch.setattr(tenacity.nap.time, "sleep", slept.append)
    url = server.url("/cut.pdf?backoff")
    message(lambda: fetch(url, tmp_path, attempts=4))
    assert len(slept) == 3
    for wait, base in zip(slept, (1, 2, 4)):
        assert base <= wait <= base + 1


def test_retry_after_values():
    assert inputs._retry_after("0") == 0
    assert inputs._retry_after(" 120 ") == 120  # fetch caps what it waits at 30 s
    assert inputs._retry_after("soon") is None
    assert inputs._retry_after(None) is None
    assert 0 <= inputs._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") < 1  # a past date: now


# --- fetch: failures -------------------------------------------------------------------------


def test_http_errors(server, tmp_path):
    url = server.url("/missing.pdf")
    assert message(lambda: fetch(url, tmp_path)) == f"{url}: HTTP 404 Not Found"
    assert server.count("/missing.pdf") == 1  # 4xx other than 429: never retried
    url = server.url("/forbidden")
    assert message(lambda: fetch(url, tmp_path)) == f"{url}: HTTP 403 Forbidden"
    url = server.url("/down.pdf")
    assert message(lambda: fetch(url, tmp_path)) == f"{url}: HTTP 503 Service Unavailable (3 attempts); try again later"
    assert server.count("/down.pdf") == 3
    assert message(lambda: fetch(url, tmp_path, attempts=1)) == (
        f"{url}: HTTP 503 Service Unavailable (1 attempt); try again later"
    )
    assert server.count("/down.pdf") == 4
    assert leftovers(tmp_path) == []


def test_cannot_connect(tmp_path):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.pdf"
    assert message(lambda: fetch(url, tmp_path)) == (
        f"{url}: cannot connect (Connection refused); check the address or the network"
    )
    assert leftovers(tmp_path) == []


def test_timeout(server, tmp_path):
    url = server.url("/slow.pdf")
    before = server.count("/slow.pdf")
    started = time.monotonic()
    assert (
        message(lambda: fetch(url, tmp_path, timeout=0.2, attempts=2)) == f"{url}: timed out after 0.2 s (2 attempts)"
    )
    assert server.count("/slow.pdf") == before + 2
    assert time.monotonic() - started < 1.5
    assert leftovers(tmp_path) == []


def test_a_connection_cut_mid_body_is_retried_and_leaves_no_file(server, tmp_path):
    url = server.url("/cut.pdf")
    assert message(lambda: fetch(url, tmp_path, attempts=2)) == (
        f"{url}: cannot connect (the connection closed after {len(PDF)} bytes); check the address or the network"
    )
    assert server.count("/cut.pdf") == 2
    assert leftovers(tmp_path) == []


def test_size_limits(server, tmp_path):
    url = server.url("/huge.pdf")
    assert message(lambda: fetch(url, tmp_path)) == f"{url}: 20.0 MB is larger than 20 MB; is this the right file?"
    assert server.count("/huge.pdf") == 1  # not retried
    url = server.url("/stream.pdf")
    assert message(lambda: fetch(url, tmp_path, max_bytes=BIG)) == (
        f"{url}: the download is larger than 1 MB; is this the right file?"
    )
    url = server.url("/bomb")
    assert message(lambda: fetch(url, tmp_path, max_bytes=BIG)) == (
        f"{url}: the download is larger than 1 MB; is this the right file?"
    )
    assert leftovers(tmp_path) == []
    assert fetch(server.url("/report.pdf"), tmp_path, max_bytes=len(PDF)).read_bytes() == PDF  # exactly the limit


def test_interrupted_download_leaves_no_file(server, tmp_path, monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(inputs.os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        fetch(server.url("/report.pdf"), tmp_path)
    assert leftovers(tmp_path) == []


def test_invalid_urls(tmp_path):
    assert message(lambda: fetch("http://", tmp_path)) == "http://: not a valid URL (no host); check the address"
    assert message(lambda: fetch("file:///etc/hostname", tmp_path)) == (
        "file:///etc/hostname: not an http(s) URL; give an http:// or https:// address, or a file path"
    )
    url = "http://bad host/a.pdf"
    assert (
        message(lambda: fetch(url, tmp_path))
        == f"{url}: not a valid URL (URL can't contain control characters); check the address"
    )
    url = "http://[::1/a.pdf"
    assert message(lambda: fetch(url, tmp_path)) == f"{url}: not a valid URL (Invalid IPv6 URL); check the address"
    assert leftovers(tmp_path) == []


def test_download_folder_is_created(server, tmp_path):
    folder = tmp_path / "run" / "downloads"
    assert fetch(server.url("/report.pdf"), folder).parent == folder
    assert os.path.isdir(folder)
