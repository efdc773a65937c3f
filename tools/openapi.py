"""Writes docs/openapi.json from the models (`make openapi`)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The handlers import as functions-framework loads them: beside functions/main.py.
sys.path.insert(0, str(ROOT / "functions"))

from handlers.api import ROLES  # noqa: E402

from shared.api.openapi import rendered  # noqa: E402


def main() -> None:
    target = ROOT / "docs" / "openapi.json"
    target.write_text(rendered(ROLES))
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
