"""The shacl validator's step config: SHACL shapes (Turtle), inference, ontologies."""

from __future__ import annotations

import re
from typing import Any

from shared.catalog.spec import ConfigError, ResourceField, ValidatorSpec

OPTIONS = ("shapes", "shapes_resource", "inference", "ontologies")
SHACL = "http://www.w3.org/ns/shacl#"
# A SPARQL-based constraint's query may not send a query elsewhere.
_SERVICE = re.compile(r"\bSERVICE\b", re.IGNORECASE)
MAX_REASON = 300


def _shapes_graph(text: str) -> Any:
    import rdflib

    graph = rdflib.Graph()
    try:
        graph.parse(data=text, format="turtle")
    except Exception as exc:  # noqa: BLE001 - any parser error is the shapes'
        why = getattr(exc, "_why", None)  # notation3 quotes the whole text otherwise
        lines = getattr(exc, "lines", None)
        where = f" at line {lines + 1}" if isinstance(lines, int) else ""
        reason = why if isinstance(why, str) else f"{type(exc).__name__}: {exc}"
        said = f"config.shapes is not valid Turtle{where}: {reason}"
        raise ConfigError(said[:MAX_REASON]) from None
    return graph


def _meta_problem(graph: Any) -> str | None:
    """What makes `graph` not a valid shapes graph (SHACL's own shapes for SHACL, the
    "SHACL-SHACL"), or None."""
    import rdflib
    from pyshacl.entrypoints import meta_validate

    conforms, report, _ = meta_validate(graph, inference=None)
    if conforms:
        return None
    sh = rdflib.Namespace(SHACL)
    result = next(iter(report.subjects(rdflib.RDF.type, sh.ValidationResult)))
    focus = report.value(result, sh.focusNode)
    message = report.value(result, sh.resultMessage)
    where = focus.n3(graph.namespace_manager) if focus is not None else "?"
    return f"{message} (at {where})"


def _queries(graph: Any) -> list[str]:
    import rdflib

    sh = rdflib.Namespace(SHACL)
    return [
        str(query)
        for predicate in (sh.select, sh.ask, sh.construct, sh.update)
        for query in graph.objects(None, predicate)
    ]


def _has_shapes(graph: Any) -> bool:
    import rdflib

    sh = rdflib.Namespace(SHACL)
    typed = [(None, rdflib.RDF.type, sh.NodeShape), (None, rdflib.RDF.type, sh.PropertyShape)]
    targets = (sh.targetClass, sh.targetNode, sh.targetSubjectsOf, sh.targetObjectsOf)
    patterns = typed + [(None, t, None) for t in targets]
    return any(next(iter(graph.triples(p)), None) is not None for p in patterns)


def _check_shapes(text: str) -> list[str]:
    graph = _shapes_graph(text)
    if any(_SERVICE.search(q) for q in _queries(graph)):
        raise ConfigError("config.shapes: a SPARQL constraint may not use SERVICE (no network)")
    problem = _meta_problem(graph)
    if problem is not None:
        raise ConfigError(f"config.shapes is not valid SHACL: {problem}"[:MAX_REASON])
    if not _has_shapes(graph):
        return ["config.shapes declares no shape: every file will conform"]
    return []


def _check_shacl(config: dict[str, Any]) -> list[str]:
    unknown = set(config) - set(OPTIONS)
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; allowed: {list(OPTIONS)}")
    if config.get("inference", "none") not in ("none", "rdfs", "owlrl"):
        raise ConfigError("config.inference must be 'none', 'rdfs' or 'owlrl'")
    ontologies = config.get("ontologies", [])
    if not isinstance(ontologies, list) or not all(isinstance(o, str) for o in ontologies):
        raise ConfigError("config.ontologies is a list of workflow resources' names")
    shapes = config.get("shapes")
    if not isinstance(shapes, str):
        raise ConfigError("config.shapes is required: the shapes graph's Turtle text")
    return _check_shapes(shapes)


SPEC = ValidatorSpec(
    name="shacl",
    # shared/domain/files.py: Turtle and N-Triples by their own types, JSON-LD as JSON and
    # RDF/XML as XML (the validator reads the syntax and refuses a file in none).
    file_types=frozenset({"turtle", "ntriples", "json", "xml"}),
    check_config=_check_shacl,
    inline_module="validators.shacl.validator",
    inline_preload=(
        "rdflib",
        "rdflib.plugins.parsers.notation3",
        "rdflib.plugins.parsers.ntriples",
        "rdflib.plugins.parsers.jsonld",
        "rdflib.plugins.parsers.rdfxml",
        "rdflib.plugins.sparql",
        "pyshacl",
        "owlrl",
    ),
    resource_fields=(
        ResourceField("shapes_resource", text_into="shapes"),
        ResourceField("ontologies"),
    ),
    config_schema={
        "type": "object",
        "properties": {
            "shapes": {"type": "string", "description": "The shapes graph, in Turtle"},
            "shapes_resource": {
                "type": "string",
                "description": "The name of a workflow resource holding the shapes (Turtle)",
            },
            "inference": {
                "enum": ["none", "rdfs", "owlrl"],
                "description": "Inference on the data (with the ontologies) before checking",
            },
            "ontologies": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "maxItems": 20,
                "uniqueItems": True,
                "description": (
                    "Names of workflow resources (e.g. Brick) merged into the data as "
                    "pySHACL's ontology graph; never fetched, owl:imports not followed"
                ),
            },
        },
        "oneOf": [{"required": ["shapes"]}, {"required": ["shapes_resource"]}],
        "additionalProperties": False,
    },
)
