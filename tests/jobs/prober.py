"""A job for the isolation tests: tries to open each path in $PROBE_PATHS (separated by
`:`) and prints what it got, `read <path>` or `refused <path> <error>`, to its log."""

import os

for path in filter(None, os.environ.get("PROBE_PATHS", "").split(":")):
    try:
        with open(path, "rb") as handle:
            handle.read(16)
        print("read", path, flush=True)
    except OSError as exc:
        print("refused", path, type(exc).__name__, flush=True)
