"""One result line: printed, and appended to a JSON-lines file when one is named."""

from __future__ import annotations

import json
from typing import Any


def split_wlk_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the script's own arguments, the wlk flags given after --)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    return argv[:cut], argv[cut + 1 :]


def emit(result: dict[str, Any], out: str | None) -> None:
    line = json.dumps(result)
    print(line)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")
