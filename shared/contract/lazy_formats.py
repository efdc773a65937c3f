"""jsonschema without the two-second import.

`import jsonschema` imports its format checkers, and with the format-nongpl extra that
imports rfc3987-syntax, which builds an Earley parser for RFC 3987 at import: ~2 s here,
paid by every job and every cold api instance, though only the `iri` and `iri-reference`
formats use it. `defer_rfc3987()` puts a stand-in module in its place whose
`is_valid_syntax` imports the real one on its first call, so the formats behave exactly
as before and only a schema that checks an IRI pays for the parser.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

_NAME = "rfc3987_syntax"


def _is_valid_syntax(term: str, value: str) -> bool:
    module = sys.modules.get(_NAME)
    if module is None or getattr(module, "__deferred__", False):
        sys.modules.pop(_NAME, None)
        module = importlib.import_module(_NAME)
    return bool(module.is_valid_syntax(term, value))


def defer_rfc3987() -> None:
    """Call before the first `import jsonschema` (a no-op once it is imported)."""
    if _NAME in sys.modules or "jsonschema" in sys.modules:
        return
    if importlib.util.find_spec(_NAME) is None:
        return  # not installed: jsonschema skips those formats, as it would anyway
    stand_in = types.ModuleType(_NAME)
    stand_in.__dict__.update(__deferred__=True, is_valid_syntax=_is_valid_syntax)
    sys.modules[_NAME] = stand_in
