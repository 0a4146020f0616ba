"""Command line: a thin layer that turns library results and exceptions into output and exit codes.

Exit codes: 0 every report ok; 1 at least one report needs review; 2 a usage error, or an
input that could not be read or held no table (that input gets a `failed` record and one
line on stderr; the other inputs are still extracted).
"""

from __future__ import annotations

import argparse
import codecs
import glob
import os
import sys
import tempfile
from collections.abc import Callable

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

    Exit status: 0 all reports ok, 1 some need review, 2 an input could not be read.
    """
    from .extract import extract_bytes, unreadable_input
    from .load import read_input

    if args.encoding:
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise GxllmError(f"unknown encoding {args.encoding!r}; try gbk, gb18030, big5 or utf-8") from None
    paths = _inputs(args.files)
    output = _Output(args.output, args.format)
    worst = EXIT_OK
    try:
        for path in paths:
            try:
                data, name = read_input(path)
                result = extract_bytes(data, name, encoding=args.encoding)
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
    extract.add_argument("--llm", choices=("never",), default="never",
                         help="LLM fallback; this version extracts with the rules only")
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
