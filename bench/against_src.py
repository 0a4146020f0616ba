"""What html_bench.py and pdf_bench.py share: each kind of report extracted in-process (CPU ms,
best of `--repeat` passes, the whole extraction and the load stage alone) and, with `--src`, the
same in a child process with another checkout's src first on PYTHONPATH (the code before a
change), under the same load: the ratios, and the reports whose results are not byte-identical."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

Documents = dict[str, list[tuple[bytes, str]]]  # kind -> (bytes, file name)


def extractor() -> Callable:
    """`extract_bytes` of the gxllm first on the path (a tree from before the pipeline module was
    named `pipeline` has it in `extract`)."""
    try:
        from gxllm.pipeline import extract_bytes
    except ImportError:
        from gxllm.extract import extract_bytes
    return extract_bytes


def measure(kinds: Documents, repeat: int) -> dict:
    extract_bytes = extractor()
    from gxllm.load import load

    everything = [doc for docs in kinds.values() for doc in docs]
    digests = {
        f"{kind}/{name}": hashlib.sha256(json.dumps(extract_bytes(data, name, llm="never"), ensure_ascii=False).encode()).hexdigest()
        for kind, docs in kinds.items()
        for data, name in docs
    }

    def best(docs, work) -> float:
        passes = []
        for _ in range(repeat):
            started = time.process_time()
            for data, name in docs:
                work(data, name)
            passes.append(time.process_time() - started)
        return round(min(passes) / len(docs) * 1000, 2)

    shown: dict = {"reports": len(everything), "output_sha256": hashlib.sha256("".join(digests.values()).encode()).hexdigest()}
    for kind, docs in {"all": everything, **kinds}.items():
        shown[kind] = {"extract_ms": best(docs, lambda d, n: extract_bytes(d, n, llm="never")), "load_ms": best(docs, load)}
    shown["digests"] = digests
    return shown


def main(script: str, description: str, documents: Callable[[int], Documents], seeds: int) -> int:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--seeds", type=int, default=seeds, help=f"sample reports rendered (default {seeds})")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--src", help="also measure with this src folder first on PYTHONPATH (before a change)")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # the pickled documents to measure
    args = ap.parse_args()
    if args.child:
        with open(args.child, "rb") as f:
            print(json.dumps(measure(pickle.load(f), args.repeat)))
        return 0
    # Drawn once, by this tree (tests/pdfs.py and tests/layouts.py need its gxllm), for both.
    kinds = documents(args.seeds)
    mine = measure(kinds, args.repeat)
    shown: dict = {"this": mine}
    if args.src:
        with tempfile.NamedTemporaryFile(suffix=".pickle") as drawn:
            pickle.dump(kinds, drawn)
            drawn.flush()
            command = [sys.executable, script, "--child", drawn.name, "--repeat", str(args.repeat)]
            child = subprocess.run(command, env=dict(os.environ, PYTHONPATH=args.src), capture_output=True, text=True, check=True)
        other = shown["src"] = json.loads(child.stdout)
        shown["ratios_this_to_src"] = {
            f"{kind} {stage}": round(mine[kind][stage] / other[kind][stage], 3)
            for kind in ("all", *kinds)
            for stage in ("extract_ms", "load_ms")
        }
        shown["identical_output"] = mine["output_sha256"] == other["output_sha256"]
        shown["different_output"] = [name for name, digest in mine["digests"].items() if other["digests"].get(name) != digest]
        del other["digests"]
    del mine["digests"]
    print(json.dumps(shown, indent=1))
    return 0
