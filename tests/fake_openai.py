"""A scriptable fake OpenAI-compatible server on 127.0.0.1, for tests.

    with FakeOpenAI() as fake:
        fake.queue(error_reply(429, retry_after="0.01"), tool_call_reply({"x": 1}))
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=1)
        ...
        assert fake.requests[1]["json"]["messages"] == ...
        assert fake.usage_total() == {"prompt_tokens": 100, ...}

Serves ``POST /v1/chat/completions`` (replies from the queue, then ``default``)
and ``GET /v1/models`` (a fixed list). Every request is recorded in
``requests`` when it arrives, before any delay or drop. Stdlib only: it does
not import openai, so it can be used with any HTTP client.
"""

from __future__ import annotations

import copy
import itertools
import json
import socket
import struct
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeOpenAI",
    "Reply",
    "content_reply",
    "error_reply",
    "tool_call_reply",
]


@dataclass
class Reply:
    """One scripted answer.

    ``body``: a dict is sent as JSON; a str is sent verbatim (as
    ``text/plain`` unless ``headers`` set a Content-Type, so a broken JSON body
    can be sent with ``headers={"Content-Type": "application/json"}``); None
    means an empty 200 chat completion (content "", zero usage).
    ``delay``: seconds to wait before answering; other requests are served
    meanwhile, and the wait ends early (without answering) when the server
    shuts down. ``drop``: read the request, then reset the connection without
    sending a byte (clients see a connection error).
    """

    status: int = 200
    body: dict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


_ids = itertools.count(1)


def _completion(message: dict, finish_reason: str, prompt_tokens: int,
                completion_tokens: int, model: str) -> dict:
    return {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def tool_call_reply(arguments: dict, *, name: str | None = None,
                    prompt_tokens: int = 100, completion_tokens: int = 20,
                    model: str = "fake") -> Reply:
    """A chat.completion whose message calls one tool with ``arguments``.

    With ``name=None`` the server fills in the name of the first tool in the
    request (``tools[0]["function"]["name"]``; instructor rejects a call to any
    other name), or ``"tool"`` if the request has no tools.
    """
    message = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [{
            "id": "",  # filled in per serve, unique
            "type": "function",
            "function": {
                "name": name,
                "arguments": json.dumps(arguments, ensure_ascii=False),
            },
        }],
    }
    return Reply(body=_completion(message, "tool_calls", prompt_tokens,
                                  completion_tokens, model))


def content_reply(content: str, *, prompt_tokens: int = 100,
                  completion_tokens: int = 20, model: str = "fake") -> Reply:
    """A chat.completion with a plain assistant message (JSON / MD_JSON modes)."""
    message = {"role": "assistant", "content": content, "refusal": None}
    return Reply(body=_completion(message, "stop", prompt_tokens,
                                  completion_tokens, model))


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_reply(status: int, message: str = "fake error", *,
                retry_after: str | None = None) -> Reply:
    """An OpenAI-style ``{"error": {...}}`` reply; ``retry_after`` sets Retry-After.

    Note: the openai SDK only honours Retry-After values > 0 (and <= 60);
    ``"0"`` makes it fall back to its own backoff (~0.4-0.5 s on the 1st retry).
    Use e.g. ``"0.01"`` for a fast retry.
    """
    body = {"error": {
        "message": message,
        "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error"),
        "param": None,
        "code": str(status),
    }}
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return Reply(status=status, body=body, headers=headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do
    server: _Server
    timeout = 10  # idle keep-alive connections go away on their own
    wbufsize = 1 << 16  # headers + body leave in one write (no Nagle/delayed-ACK stall)

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, False)

    def do_GET(self) -> None:
        self._handle(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        self._handle(payload)

    def _handle(self, payload: Any) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        fake._record({
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "json": payload,
        })
        if self.command == "GET" and path.rstrip("/") == "/v1/models":
            self._send(Reply(body={"object": "list", "data": [
                {"id": "fake", "object": "model", "created": 0, "owned_by": "fake"}]}))
        elif self.command == "POST" and path.rstrip("/") == "/v1/chat/completions":
            reply = fake._next_reply(payload if isinstance(payload, dict) else {})
            if reply.delay > 0 and fake._stop.wait(reply.delay):
                self._drop()  # shutting down: abandon the reply
            elif reply.drop:
                self._drop()
            else:
                body = fake._render(reply, payload)
                # Recorded before writing, so a client that got its answer
                # always sees it counted; billed even if the client had gone
                # (e.g. timed out), as a real provider would.
                fake._served(reply, body, payload)
                self._send(reply, body)
        else:
            self._send(error_reply(404, f"no route for {self.command} {path}"))

    def _send(self, reply: Reply, body: Any = None) -> None:
        body = reply.body if body is None else body
        if isinstance(body, (dict, list)):
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            ctype = "application/json"
        else:
            data = (body or "").encode("utf-8")
            ctype = "text/plain; charset=utf-8"
        self.send_response(reply.status)
        names = {k.lower() for k in reply.headers}
        if "content-type" not in names:
            self.send_header("Content-Type", ctype)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # client gone (e.g. it timed out)
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            # SO_LINGER 0: close sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class FakeOpenAI:
    """Threaded fake OpenAI endpoint on 127.0.0.1 (random port); a context manager.

    Attributes:
      base_url: "http://127.0.0.1:PORT/v1"
      requests: every request, in arrival order:
        {"method", "path", "headers" (lower-cased names), "json" (parsed body or None)}
      default: reply used when the queue is empty: a Reply, a callable taking the
        request json and returning a Reply (called in the handler thread; may run
        concurrently), or None (500 "no reply queued"). If the callable raises,
        the client gets a 500 naming the exception and where it was raised, and
        the exception is kept in ``errors``.
      served: every chat-completion reply written (not drops, not abandoned delays,
        not /v1/models), in order: {"status", "body" (as sent), "request" (json)}.
    """

    def __init__(self, default: Reply | Callable[[dict], Reply] | None = None) -> None:
        self.default = default
        self.requests: list[dict] = []
        self.served: list[dict] = []
        self.errors: list[BaseException] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.port = 0

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> FakeOpenAI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.01},
                                        name="FakeOpenAI", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()  # wake sleeping (delayed) handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # unblock handlers idling on keep-alive connections
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scripting ---------------------------------------------------------
    def queue(self, *replies: Reply) -> None:
        """Append replies; chat completions consume them in order (thread-safe)."""
        with self._lock:
            self._queue.extend(replies)

    def pending(self) -> int:
        """How many queued replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def usage_total(self) -> dict:
        """Summed usage of every 200 chat completion written (incl. ones whose client
        had already timed out: billed, as a real provider would).

        Returns {"prompt_tokens", "completion_tokens", "total_tokens", "calls"}.
        """
        tot = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "calls": 0}
        with self._lock:
            served = list(self.served)
        for s in served:
            body = s["body"]
            if s["status"] != 200 or not isinstance(body, dict):
                continue
            tot["calls"] += 1
            usage = body.get("usage") or {}
            for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
                tot[k] += int(usage.get(k) or 0)
        return tot

    # -- internals (called from handler threads) ---------------------------
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _record(self, req: dict) -> None:
        with self._lock:
            self.requests.append(req)

    def _next_reply(self, payload: dict) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            default = self.default
        if default is None:
            return error_reply(500, "no reply queued")
        if callable(default):
            try:
                return default(payload)
            except Exception as e:  # noqa: BLE001 - surface the bug to the test as a 500
                with self._lock:
                    self.errors.append(e)
                tb = traceback.extract_tb(e.__traceback__)[-1]
                return error_reply(500, f"default() raised {type(e).__name__}: {e} "
                                        f"(at {tb.filename}:{tb.lineno} in {tb.name})")
        return default

    def _render(self, reply: Reply, payload: Any) -> Any:
        """The body to send: a fresh copy with per-request fields filled in."""
        if reply.body is None and reply.status == 200:
            return content_reply("", prompt_tokens=0, completion_tokens=0).body
        body = copy.deepcopy(reply.body)
        if not isinstance(body, dict):
            return body
        tools = payload.get("tools") if isinstance(payload, dict) else None
        tool_name = "tool"
        if tools:
            tool_name = (tools[0].get("function") or {}).get("name") or tool_name
        for choice in body.get("choices") or []:
            for call in (choice.get("message") or {}).get("tool_calls") or []:
                if not call.get("id"):
                    call["id"] = f"call_fake{next(_ids)}"
                fn = call.get("function") or {}
                if fn.get("name") is None:
                    fn["name"] = tool_name
        return body

    def _served(self, reply: Reply, body: Any, payload: Any) -> None:
        with self._lock:
            self.served.append({"status": reply.status, "body": body, "request": payload})
