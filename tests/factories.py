"""Test data built through the same services and repositories the product uses."""

from __future__ import annotations

from typing import Any

from shared.api.auth.api_keys import issue_key
from shared.contract.envelopes import InputEnvelope, ValidatorRef
from shared.domain.models import Organization
from shared.persistence.ports import Repositories
from shared.platform.clock import utcnow
from shared.platform.ids import new_id

PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0},
    },
}


def make_org(repos: Repositories, name: str = "acme") -> tuple[str, str]:
    """Creates an org and a key; returns (org_id, plaintext key)."""
    org = Organization(id=new_id(), name=name, created_at=utcnow())
    repos.orgs.create(org)
    _, key = issue_key(repos, org.id, "test")
    return org.id, key


def workflow_body(slug: str = "people", steps: int = 1, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "People",
        "slug": slug,
        "steps": [
            {"name": f"Schema {i}", "validator": "json-schema", "config": {"schema": PERSON_SCHEMA}}
            for i in range(steps)
        ],
        "retention": {"submission": "STORE_7_DAYS", "output": "STORE_30_DAYS"},
        # Most tests are about the job path; the fast path's ask for "auto" or "inline".
        "execution": "job",
    }
    body.update(extra)
    return body


def input_envelope(validator: str = "json-schema", **fields: Any) -> InputEnvelope:
    """A step's input.json as a job or the fast path gets it, for tests that run a
    validator directly: placeholder ids and a callback nobody answers, `fields` over them."""
    values: dict[str, Any] = {
        "run_id": "R" * 20,
        "org_id": "o",
        "step_order": 0,
        "step_key": "s",
        "attempt": 1,
        "validator": ValidatorRef(name=validator, version="1"),
        "files": [],
        "callback_url": "http://127.0.0.1:9",
        "callback_id": "c" * 32,
        "output_uri": "file:///tmp/unused/output.json",
        "timeout_seconds": 60,
    }
    return InputEnvelope(**{**values, **fields})


# A JSON Schema and an XSD that a document carrying a secret breaks in every way their
# validators report (types, lengths, enums, unknown keys, elements, attributes), so the
# redaction tests see every kind of finding.
PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "integer"},
        "notes": {"type": "string", "maxLength": 3},
        "tags": {"type": "array", "items": {"enum": ["ok"]}},
    },
    "additionalProperties": False,
}
PROBE_XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="person"><xs:complexType><xs:sequence>
    <xs:element name="name" type="xs:string"/>
  </xs:sequence><xs:attribute name="age" type="xs:integer"/></xs:complexType></xs:element>
</xs:schema>"""


def every_document(db: Any) -> list[Any]:
    """Every document of every Firestore collection, subcollections included."""
    found, stack = [], list(db.collections())
    while stack:
        for snap in stack.pop().stream():
            found.append(snap)
            stack.extend(snap.reference.collections())
    return found
