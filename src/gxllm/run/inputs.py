"""The input stage of `gxllm batch`: what the user named, expanded into reports; URLs fetched once.

`collect` turns specs (files, folders, globs, http(s) URLs and list files of those) into an
ordered, de-duplicated list of `Input`s without touching the network. `fetch` downloads one URL
into a folder under a name derived from the URL, atomically, so a resumed batch finds it there
and never fetches it twice.
"""

from __future__ import annotations

import codecs
import email.utils
import glob
import hashlib
import http.client
import os
import random
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from gxllm import __version__
from gxllm.errors import InputError
from gxllm.load import MAX_BYTES


@dataclass(frozen=True)
class Input:
    source: str  # what the user named: a file path (as found) or an http(s) URL
    is_url: bool


REPORT_SUFFIXES = (".pdf", ".docx", ".doc", ".html", ".htm", ".shtml", ".xhtml", ".txt", ".md")
LIST_SUFFIXES = (".txt", ".lst", ".list")
RUN_MARKER = "gxllm.sqlite"  # a folder holding this is a batch run folder, never searched for reports
MAX_LIST_DEPTH = 3  # a list named by a list named by a list; deeper is a loop or a mistake

_NO_REPORTS = "no report files (.pdf .docx .html .txt …) in folder"

# --- collecting ------------------------------------------------------------------------------


def collect(specs: list[str]) -> list[Input]:
    """Expand specs into report inputs, in the order given (folders sorted), each once.

    A spec is an http(s) URL, a file, a folder (searched recursively for REPORT_SUFFIXES, hidden
    entries and run folders skipped), a glob (``**`` recursive) or a list file (.txt/.lst/.list of
    URLs and paths, relative to the list's folder, ``#`` comments). Raises InputError for a spec
    that names nothing. Never touches the network.
    """
    found: dict[str, Input] = {}
    for spec in specs:
        for item in _expand(spec, depth=0, where=""):
            found.setdefault(_key(item), item)
    return list(found.values())


def _key(item: Input) -> str:
    if item.is_url:  # the fragment is never sent; scheme and host are case-insensitive
        parts = urllib.parse.urlsplit(item.source)
        return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))
    return "file:" + os.path.realpath(item.source)


def is_url(spec: str) -> bool:
    """An http(s) URL with a host."""
    if not spec[:8].lower().startswith(("http://", "https://")):
        return False
    try:
        return bool(urllib.parse.urlsplit(spec.strip()).netloc)
    except ValueError:  # "Invalid IPv6 URL": not a URL fetch could use
        return False


def _expand(spec: str, *, depth: int, where: str) -> list[Input]:
    """The inputs one spec names. `depth` counts the lists it sits in; `where` prefixes errors
    with the list line it came from."""
    if is_url(spec):
        return [Input(spec.strip(), True)]
    if os.path.isdir(spec):
        items = _walk(spec)
        if not items:
            raise InputError(f"{where}{spec}: {_NO_REPORTS}")
        return items
    if os.path.isfile(spec):
        return _file(spec, depth=depth, where=where)
    if glob.has_magic(spec) and not where:  # list lines are paths, never patterns
        return _glob(spec, depth=depth)
    raise InputError(f"{where}{spec}: no such file, folder or URL")


def _file(path: str, *, depth: int, where: str) -> list[Input]:
    entries = _list_entries(path)
    if entries is None:
        return [Input(path, False)]
    if depth >= MAX_LIST_DEPTH:
        raise InputError(f"{where}{path}: list files nested more than {MAX_LIST_DEPTH} deep (does a list name "
                         "itself?); name the reports directly")  # fmt: skip
    if not entries:
        raise InputError(f"{where}{path}: the list names no reports; put one path or URL a line")
    base = os.path.dirname(path)
    items: list[Input] = []
    for number, entry in entries:
        if not is_url(entry):
            entry = os.path.normpath(os.path.join(base, os.path.expanduser(entry)))
        items.extend(_expand(entry, depth=depth + 1, where=f"{path}, line {number}: "))
    return items


def _list_entries(path: str) -> list[tuple[int, str]] | None:
    """(line number, entry) of a list file, or None when the file is a report.

    A .lst/.list file is always a list. A .txt file is a list when every non-blank, non-``#``
    line is an http(s) URL, an existing file or folder, or at least looks like a file name
    (ends in a report or list suffix), so that a list with a mistyped path is reported as such
    rather than read as a report.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in LIST_SUFFIXES or (suffix == ".txt" and _opens_like_a_report(path)):
        return None
    text = _read_text(path)
    if text is None:
        if suffix == ".txt":
            return None
        raise InputError(f"{path}: cannot read this list file; save it as UTF-8 text, one path or URL a line")
    base = os.path.dirname(path)
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if suffix == ".txt" and not _names_an_input(line, base):
            return None
        entries.append((number, line))
    if suffix == ".txt" and not entries:
        return None  # an empty .txt is an (empty) report: load says so
    return entries


def _opens_like_a_report(path: str) -> bool:
    """Whether a .txt's first line already says it is a report (most are, in a folder of them),
    read from its first 4 KB instead of the whole file: words that are no path, URL or file name."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False  # decided on the whole file
    text = _decoded(head[: head.rfind(b"\n") + 1])  # b"\n" is never inside a UTF-8 or GBK character
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return not _names_an_input(line, os.path.dirname(path))
    return False


def _names_an_input(line: str, base: str) -> bool:
    """A line of a list file: a URL, a report or list file name, or an existing path."""
    return (
        is_url(line)
        or line.lower().endswith(REPORT_SUFFIXES + LIST_SUFFIXES)
        or os.path.exists(os.path.join(base, os.path.expanduser(line)))
    )


def _read_text(path: str) -> str | None:
    """The decoded text of a small file, or None (unreadable, too big, binary, undecodable)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError:
        return None
    return None if len(data) > MAX_BYTES else _decoded(data)


def _decoded(data: bytes) -> str | None:
    """A list file's bytes as text: by its BOM, else UTF-8, else GB18030; None for binary."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            break
    else:
        if b"\x00" in data:
            return None
        encoding = "utf-8"
    for candidate in (encoding, "gb18030"):  # Chinese Windows saves lists in GBK
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
    return None


def _hidden(name: str) -> bool:
    return name.startswith((".", "~$"))  # ~$ = Word's lock file beside an open .docx


def _is_run_folder(path: str) -> bool:
    return os.path.exists(os.path.join(path, RUN_MARKER))


def _walk(folder: str) -> list[Input]:
    """Report files under `folder`, sorted by path; hidden entries, run folders and list files skipped.

    Symbolic links to folders are followed, each real folder once. A .txt in a folder that is a
    list (see `_list_entries`) is not a report and is not followed either: name a list to use it.
    """
    found: list[tuple[tuple[str, ...], str]] = []
    seen: set[str] = set()
    for top, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not _hidden(d) and not _is_run_folder(os.path.join(top, d))]
        rel = os.path.relpath(top, folder)
        parts = () if rel == os.curdir else tuple(rel.split(os.sep))
        for name in files:
            path = os.path.join(top, name)
            if _hidden(name) or not name.lower().endswith(REPORT_SUFFIXES) or not os.path.isfile(path):
                continue
            if name.lower().endswith(".txt") and _list_entries(path) is not None:
                continue
            found.append((parts + (name,), path))
    found.sort()
    return [Input(path, False) for _, path in found]


def _glob(pattern: str, *, depth: int) -> list[Input]:
    """Matches of a glob, sorted; folders are searched, files taken as named; nothing inside a run
    folder below the pattern's fixed part."""
    base = _fixed_prefix(pattern)
    items: list[Input] = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        if _in_run_folder(match, base):
            continue
        if os.path.isdir(match):
            items.extend(_walk(match))
        elif os.path.isfile(match):
            items.extend(_file(match, depth=depth, where=""))
    if not items:
        raise InputError(f"{pattern}: no file matches")
    return items


def _fixed_prefix(pattern: str) -> str:
    """The folder part of a glob before its first wildcard ('reports/2023' of 'reports/2023/**/*.pdf')."""
    head = pattern
    while glob.has_magic(head):
        head = os.path.dirname(head)
    return head


def _in_run_folder(path: str, base: str) -> bool:
    """Whether a folder strictly between `base` and `path` (or `path` itself) is a run folder."""
    stop = os.path.realpath(base or os.curdir)
    current = path if os.path.isdir(path) else os.path.dirname(path)
    while current and os.path.realpath(current) != stop:
        if _is_run_folder(current):
            return True
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return False


# --- fetching --------------------------------------------------------------------------------

_WAIT = 1.0  # first back-off in seconds (doubling, with as much jitter); tests make it tiny
_MAX_WAIT = 30.0  # cap of one back-off and of an honoured Retry-After
_CHUNK = 64 * 1024
_FETCH_SUFFIXES = REPORT_SUFFIXES + (".bin",)
_CONTENT_TYPES = {
    "application/pdf": ".pdf",
    "application/x-pdf": ".pdf",
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "text/plain": ".txt",
    "text/markdown": ".md",
}


class _Retryable(Exception):
    """A failure worth another attempt; `message` is what the user sees if it is the last."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


def _stem(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _path_suffix(url: str) -> str | None:
    """The report suffix of a URL's path ('.pdf' of 'http://x/a/b.PDF;jsessionid=1?x=1')."""
    path = urllib.parse.urlsplit(url).path.split(";", 1)[0]
    suffix = os.path.splitext(urllib.parse.unquote(path))[1].lower()
    return suffix if suffix in REPORT_SUFFIXES else None


def fetched_path(url: str, folder: str | os.PathLike[str]) -> Path | None:
    """The file `fetch` saved for `url` in `folder`, if it is there."""
    folder = Path(folder)
    suffix = _path_suffix(url)
    for candidate in (suffix,) if suffix else _FETCH_SUFFIXES:
        path = folder / f"{_stem(url)}{candidate}"
        if path.is_file():
            return path
    return None


def fetch(url: str, folder: str | os.PathLike[str], *, timeout: float = 30.0, max_bytes: int = MAX_BYTES,
          attempts: int = 3) -> Path:  # fmt: skip
    """Download `url` into `folder` as ``<sha256(url)[:16]><suffix>``; returns the path.

    A file already saved for the URL is returned without a request. Connection errors, timeouts,
    HTTP 429 and 5xx are retried (`attempts` in all, exponential back-off with jitter, Retry-After
    honoured up to 30 s); other failures are not. The download is written to a hidden temporary
    file and renamed, so the final name only ever holds a whole file. Raises InputError (one line).
    """
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

    attempts = max(1, attempts)
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError as e:  # "Invalid IPv6 URL"
        raise _invalid(url, e) from None
    if parts.scheme.lower() not in ("http", "https"):  # urllib would also read ftp: and file:
        raise InputError(f"{url}: not an http(s) URL; give an http:// or https:// address, or a file path")
    if not parts.hostname:
        raise InputError(f"{url}: not a valid URL (no host); check the address")
    existing = fetched_path(url, folder)
    if existing is not None:
        return existing
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{url}: cannot create the download folder {folder} ({e.strerror or e})") from None

    def wait(state) -> float:
        error = state.outcome.exception() if state.outcome else None
        after = getattr(error, "retry_after", None)
        if after is not None:
            return min(after, _MAX_WAIT)
        return min(_WAIT * 2 ** (state.attempt_number - 1), _MAX_WAIT) + random.uniform(0, _WAIT)

    retrying = Retrying(
        retry=retry_if_exception_type(_Retryable),
        wait=wait,
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                return _download(url, folder, timeout=timeout, max_bytes=max_bytes, attempts=attempts)
    except _Retryable as error:
        raise InputError(error.message) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _invalid(url: str, error: Exception) -> InputError:
    detail = str(error).split(".")[0] or type(error).__name__
    return InputError(f"{url}: not a valid URL ({detail}); check the address")


def _plural(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _request_url(url: str) -> str:
    """The URL with non-ASCII characters and spaces percent-encoded (existing escapes kept)."""
    return urllib.parse.quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%~")


def _download(url: str, folder: Path, *, timeout: float, max_bytes: int, attempts: int) -> Path:
    request = urllib.request.Request(_request_url(url), headers={"User-Agent": f"gxllm/{__version__}",
                                                                 "Accept": "*/*"})  # fmt: skip
    opener = urllib.request.build_opener()  # reads the proxy settings of the environment now
    timed_out = _Retryable(f"{url}: timed out after {timeout:g} s ({_plural(attempts)})")
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        raise _http_error(url, e, attempts) from None
    except urllib.error.URLError as e:
        raise _connection_error(url, e.reason, timed_out) from None
    except (http.client.InvalidURL, ValueError) as e:  # a space or control character in the host
        raise _invalid(url, e) from None
    except (TimeoutError, OSError, http.client.HTTPException) as e:  # while reading the status line
        raise _connection_error(url, e, timed_out) from None

    with response:
        limit = f"{max_bytes / 1048576:g} MB"
        length = (response.headers.get("Content-Length") or "").strip()
        declared = int(length) if length.isdigit() else None
        if declared is not None and declared > max_bytes:
            raise InputError(f"{url}: {declared / 1048576:.1f} MB is larger than {limit}; is this the right file?")
        suffix = _suffix(url, response)
        final = folder / f"{_stem(url)}{suffix}"
        tmp = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{_stem(url)}.", suffix=".part", delete=False)
        try:
            with tmp:
                _copy(url, response, tmp, max_bytes, limit, timed_out, declared)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, final)
        except BaseException:
            try:
                os.unlink(tmp.name)
            except OSError:
                pass
            raise
    return final


def _copy(url: str, response, out, max_bytes: int, limit: str, timed_out: _Retryable, declared: int | None) -> None:
    """Stream the body to `out`, decompressing a Content-Encoding the server sent unasked.

    A body shorter than its Content-Length is a broken connection (http.client only notices
    that when asked for the whole body at once)."""
    encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
    inflate = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None
    too_large = InputError(f"{url}: the download is larger than {limit}; is this the right file?")
    size = received = 0
    while True:
        try:
            chunk = response.read(_CHUNK)
        except (TimeoutError, OSError, http.client.HTTPException) as e:  # the connection broke mid-body
            raise _connection_error(url, e, timed_out) from None
        received += len(chunk)
        last = not chunk
        if last and declared is not None and received < declared:
            raise _connection_error(url, http.client.IncompleteRead(b"\0" * received, declared - received), timed_out)
        try:
            if inflate is not None:  # at most one byte past the limit, whatever the ratio
                chunk = inflate.flush() if last else inflate.decompress(chunk, max_bytes + 1 - size)
                if inflate.unconsumed_tail:
                    raise too_large
        except zlib.error as e:
            raise _Retryable(f"{url}: damaged {encoding} download ({e}); try again later") from None
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        out.write(chunk)
        if last:
            return


def _suffix(url: str, response) -> str:
    """From the URL path, else the attachment's file name, else the redirected URL, else Content-Type."""
    suffix = _path_suffix(url)
    if suffix:
        return suffix
    try:
        filename = response.headers.get_filename()
    except (ValueError, LookupError, TypeError, IndexError):  # a malformed Content-Disposition
        filename = None
    if filename:
        suffix = os.path.splitext(filename.strip().strip('"'))[1].lower()
        if suffix in REPORT_SUFFIXES:
            return suffix
    suffix = _path_suffix(response.geturl() or "")
    if suffix:
        return suffix
    if not response.headers.get("Content-Type"):
        return ".bin"
    return _CONTENT_TYPES.get(response.headers.get_content_type(), ".bin")


def _http_error(url: str, error: urllib.error.HTTPError, attempts: int) -> Exception:
    code = error.code
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = str(error.reason or "").strip() or "error"
    if code == 429 or 500 <= code <= 599:
        return _Retryable(f"{url}: HTTP {code} {phrase} ({_plural(attempts)}); try again later",
                          _retry_after(error.headers.get("Retry-After") if error.headers else None))  # fmt: skip
    return InputError(f"{url}: HTTP {code} {phrase}")


def _retry_after(value: str | None) -> float | None:
    """Seconds of a Retry-After header (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _connection_error(url: str, reason: object, timed_out: _Retryable) -> Exception:
    if isinstance(reason, TimeoutError):
        return timed_out
    if isinstance(reason, ssl.SSLCertVerificationError):
        detail = reason.verify_message or "certificate verify failed"
        return InputError(f"{url}: cannot connect ({detail}); the site's certificate is not trusted - "
                          "save the file with a browser and give its path")  # fmt: skip
    if isinstance(reason, http.client.IncompleteRead):
        return _Retryable(f"{url}: cannot connect (the connection closed after {len(reason.partial)} bytes); "
                          "check the address or the network")  # fmt: skip
    if isinstance(reason, OSError):
        detail = reason.strerror or str(reason) or type(reason).__name__
        return _Retryable(f"{url}: cannot connect ({detail}); check the address or the network")
    if isinstance(reason, http.client.HTTPException):
        detail = str(reason) or type(reason).__name__
        return _Retryable(f"{url}: cannot connect ({detail}); check the address or the network")
    # urllib's own reasons ("unknown url type", "no host given"): another attempt cannot help
    return InputError(f"{url}: not a valid URL ({reason}); check the address")
