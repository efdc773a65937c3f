"""The json-schema check on a 5 MB file of 50,000 valid objects: the careful path
(stdlib parse + jsonschema, what every file took before) against what `check` does now
(orjson + jsonschema-rs for a schema it can stand in for). Same findings: none."""

from __future__ import annotations

import json
import random

from bench.figures import Figure, fastest_of

SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 0},
            "name": {"type": "string", "minLength": 1, "pattern": "^[A-Z][a-z]+$"},
            "email": {"type": "string", "format": "email"},
            "role": {"enum": ["admin", "editor", "viewer"]},
            "score": {"type": "number", "maximum": 100},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        },
        "required": ["id", "name", "email", "role"],
        "additionalProperties": False,
    },
}


def document(count: int = 50_000) -> bytes:
    rng = random.Random(7)
    names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
    rows = [
        {
            "id": i,
            "name": rng.choice(names),
            "email": f"user{i}@example.com",
            "role": rng.choice(["admin", "editor", "viewer"]),
            "score": round(rng.random() * 100, 2),
            "tags": [f"t{rng.randrange(20)}" for _ in range(rng.randrange(4))],
        }
        for i in range(count)
    ]
    return json.dumps(rows, indent=1).encode()


def measure() -> list[Figure]:
    from validators.json_schema.validator import _careful, check

    data = document()
    config = {"schema": SCHEMA}
    assert check(config, data) == [] == _careful(config, data, False)
    careful, fast = fastest_of(
        [lambda: _careful(config, data, False), lambda: check(config, data)], 4
    )
    return [
        Figure(
            "json-schema: 5 MB valid file, jsonschema / jsonschema-rs",
            measured=careful,
            baseline=fast,
            budget=10.0,
            direction="min",
            note=f"{len(data) / 1e6:.1f} MB; careful {careful:.2f} s, fast {fast:.3f} s",
        )
    ]
