"""Run one benchmark on two checkouts of the app in interleaved rounds, and compare them.

    .venv/bin/python benchmarks/compare.py --old ../layout-base --new . --pairs 3 \
        answer_load -- --rounds 1
    .venv/bin/python benchmarks/compare.py --old ../layout-base --new . --pairs 3 \
        dispatch -- --contacts 20000

Each checkout runs the script with its own virtualenv (`<checkout>/.venv/bin/python
<checkout>/benchmarks/<name>.py ARGS`), so the code measured is that checkout's. Rounds alternate
old-new, new-old, ... (the machine's speed drifts; a drift weighs on both alike), and each pair
gives a ratio new/old. Prints every round's figures, then the median and the range of each and of
the ratios. The full output of each run is kept under --logs.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The figures each benchmark prints, and whether more is better.
FIGURES = {
    "answer_load": {
        "answer req/s": (r"^answer POST\s+([\d.]+)", True),
        "answer p99 ms": (r"^answer POST\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", False),
        "trivial req/s": (r"^trivial view \(GET\)\s+([\d.]+)", True),
        "answer CPU ms/req": (r"^answer POST(?:\s+[\d.]+){4}\s+([\d.]+)", False),
    },
    "dispatch": {
        "messages/s": (r"^workers: .* = (\d+)/s", True),
        "planning s": (r"^planning time: ([\d.]+)s", False),
        "baseline smtplib/s": (r"^baseline: .* = (\d+)/s", True),
    },
}


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def run(checkout: Path, name: str, args: list[str], log: Path) -> dict[str, float]:
    command = [str(checkout / ".venv/bin/python"), str(checkout / "benchmarks" / f"{name}.py")]
    started = time.time()
    result = subprocess.run(
        [*command, *args], cwd=checkout, capture_output=True, text=True, check=False
    )
    log.write_text(
        f"$ {' '.join(command + args)}\n# load before: {load_average()}\n"
        f"# {time.time() - started:.0f} s\n{result.stdout}\n{result.stderr[-5000:]}"
    )
    if result.returncode:
        raise SystemExit(f"{checkout} {name} failed, see {log}")
    figures = {}
    for label, (pattern, _) in FIGURES[name].items():
        match = re.search(pattern, result.stdout, re.M)
        if match:
            figures[label] = float(match.group(1))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--logs", type=Path, default=Path("/tmp/bench-compare"))
    parser.add_argument("name", choices=sorted(FIGURES))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    args = [a for a in options.args if a != "--"]
    options.logs.mkdir(parents=True, exist_ok=True)
    checkouts = {"old": options.old.resolve(), "new": options.new.resolve()}
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    print(f"{options.name} {' '.join(args)}; load average at start {load_average()}")
    for pair in range(options.pairs):
        order = ("old", "new") if pair % 2 == 0 else ("new", "old")
        for side in order:
            log = options.logs / f"{options.name}-{pair + 1}-{side}.log"
            figures = run(checkouts[side], options.name, args, log)
            results[side].append(figures)
            shown = ", ".join(f"{k} {v:g}" for k, v in figures.items())
            print(f"round {pair + 1} {side}: {shown} (load {load_average()})", flush=True)
    print()
    for label, (_, more_is_better) in FIGURES[options.name].items():
        olds = [r[label] for r in results["old"] if label in r]
        news = [r[label] for r in results["new"] if label in r]
        if not olds or not news:
            continue
        ratios = [n / o for o, n in zip(olds, news, strict=False) if o]
        print(
            f"{label:20} old median {statistics.median(olds):g} ({min(olds):g}-{max(olds):g})"
            f"  new median {statistics.median(news):g} ({min(news):g}-{max(news):g})"
            f"  new/old median {statistics.median(ratios):.2f}"
            f" ({min(ratios):.2f}-{max(ratios):.2f})"
            + ("" if more_is_better else "  [lower is better]")
        )


if __name__ == "__main__":
    sys.exit(main())
