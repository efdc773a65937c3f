"""jsonschema imported without rfc3987-syntax's parser (built at its import, ~2 s), which
is loaded only when a schema checks an IRI; the iri formats answer exactly as before."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from shared.contract.lazy_formats import defer_rfc3987
defer_rfc3987()
import jsonschema
print("lark" in sys.modules)
checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
print(checker.conforms("not an iri", "iri"), checker.conforms("http://example.com/\u00e4", "iri"))
print(checker.conforms("//example.com/x", "iri-reference"), "lark" in sys.modules)
print(checker.conforms("a@example.com", "email"))
"""


def test_the_iri_parser_loads_on_first_use_and_answers_as_before() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False", "True", "True", "True", "True"]
