#!/usr/bin/env python3
"""Wall time of `wlk --help` (median of N runs), next to a bare `python -c pass` in the same script.

python benchmarks/startup_bench.py [N]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time


def median_wall(cmd: list[str], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    bare = median_wall([sys.executable, "-c", "pass"], n)
    help_ = median_wall([sys.executable, "-m", "wlk_cli", "--help"], n)
    print(
        json.dumps(
            {"runs": n, "python_bare_s": round(bare, 3), "wlk_help_s": round(help_, 3), "ratio": round(help_ / bare, 2)}
        )
    )


if __name__ == "__main__":
    main()
