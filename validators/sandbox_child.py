"""What runs inside the sandbox for a Python engine: `python -I -m validators.sandbox_child`.

It reads /sandbox/in/request.json (the engine's module, the step's config, whether to
redact, the input files' names: never the envelope, its callback id or a URI), calls
the module's `in_sandbox(config, paths, redact)`, and writes each file that returns to
/sandbox/out, refusing one that already exists (something else wrote it first). A
failure writes `error.txt` (its type, and its message unless redacted) and exits 1.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

from validators.sandbox import INSIDE_IN, INSIDE_OUT

ERROR_FILE = "error.txt"
REQUEST_FILE = "request.json"


def _write(name: str, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    handle = os.open(Path(INSIDE_OUT) / name, flags, 0o644)
    with os.fdopen(handle, "wb") as sink:
        sink.write(data)


def main() -> int:
    request = json.loads((Path(INSIDE_IN) / REQUEST_FILE).read_bytes())
    redact = bool(request.get("redact"))
    try:
        module = importlib.import_module(request["module"])
        paths = [Path(INSIDE_IN) / name for name in request["files"]]
        produced: dict[str, bytes] = module.in_sandbox(request["config"], paths, redact)
    except BaseException as exc:  # noqa: BLE001 - whatever stops the engine is reported
        traceback.print_exc()
        said = type(exc).__name__ if redact else f"{type(exc).__name__}: {exc}"
        _write(ERROR_FILE, said[:500].encode())
        return 1
    for name, data in produced.items():
        _write(name, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
