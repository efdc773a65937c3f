"""Checks RDF data against the step's SHACL shapes with pySHACL; each validation result
is a finding.

A result's severity is its sh:resultSeverity (sh:Violation → ERROR, sh:Warning → WARNING,
sh:Info → INFO; a severity of the shapes' own → ERROR), its `path` the focus node and
the result path (`ex:ahu1 brick:hasPoint`, prefixed by the data's and the shapes'
prefixes), its `rule` the shape that produced it (an IRI, or for a blank shape where it
sits: `ex:AHUShape sh:property [sh:path brick:hasPoint]`), its message the result's
message and, unless DO_NOT_STORE, the value. The data is Turtle, JSON-LD, N-Triples or
RDF/XML by content type or extension; any other file, a file that does not parse, and
a JSON-LD file naming a remote context are one ERROR finding each. Nothing is fetched
(validators/shacl/rdf.py): the `ontologies` resources are pySHACL's ontology graph,
owl:imports is never followed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.contract.envelopes import InputEnvelope, InputFile, OutputFinding
from shared.contract.severity import Severity
from validators.payload import Payload
from validators.runtime import ValidationResult, read_resource
from validators.sandboxed_python import FindingsEngine
from validators.shacl.rdf import (
    FORMAT_NAMES,
    TURTLE,
    NetworkRefused,
    RdfMalformed,
    RdfRefused,
    offline,
    parse,
    rdf_format,
)

MAX_MESSAGE = 300
MAX_TERM = 120
SHACL = "http://www.w3.org/ns/shacl#"
# sh:resultSeverity → (severity, code); any other severity IRI is a violation's.
SEVERITIES = {
    f"{SHACL}Violation": (Severity.ERROR, "shacl.violation"),
    f"{SHACL}Warning": (Severity.WARNING, "shacl.warning"),
    f"{SHACL}Info": (Severity.INFO, "shacl.info"),
}
OTHER_SEVERITY = SEVERITIES[f"{SHACL}Violation"]
INFERENCE = {"none": None, "rdfs": "rdfs", "owlrl": "owlrl"}
# What a result's code counts as in the step's metrics.
COUNTED = {"shacl.violation": "violations", "shacl.warning": "warnings", "shacl.info": "infos"}


def _cut(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error(code: str, message: str, line: int | None = None) -> OutputFinding:
    return OutputFinding(severity=Severity.ERROR, code=code, message=message, line=line)


class Terms:
    """RDF terms as a person reads them: prefixed names from the data's and the shapes'
    prefixes, a blank node by where it sits in the shapes."""

    def __init__(self, shapes: Any, data: Any) -> None:
        import rdflib

        self.shapes = shapes
        self.names = rdflib.Graph().namespace_manager
        for graph in (shapes, data):
            for prefix, namespace in graph.namespaces():
                self.names.bind(prefix, namespace, override=False, replace=False)

    def show(self, node: Any) -> str:
        import rdflib

        if isinstance(node, rdflib.BNode):
            return "[]"
        if isinstance(node, rdflib.URIRef):
            return _cut(self.names.normalizeUri(node), MAX_TERM)
        return _cut(node.n3(self.names), MAX_TERM)

    def path(self, node: Any, depth: int = 0) -> str:
        """A SHACL property path in SPARQL's syntax (`^p`, `p/q`, `(p|q)`, `p*`)."""
        import rdflib
        from rdflib.collection import Collection

        graph, sh = self.shapes, rdflib.Namespace(SHACL)
        if not isinstance(node, rdflib.BNode) or depth > 8:
            return self.show(node)
        if (inverse := graph.value(node, sh.inversePath)) is not None:
            return "^" + self.path(inverse, depth + 1)
        if (alternatives := graph.value(node, sh.alternativePath)) is not None:
            parts = [self.path(p, depth + 1) for p in Collection(graph, alternatives)]
            return "(" + "|".join(parts) + ")"
        for predicate, suffix in (("zeroOrMorePath", "*"), ("oneOrMorePath", "+")):
            if (inner := graph.value(node, sh[predicate])) is not None:
                return self.path(inner, depth + 1) + suffix
        if (inner := graph.value(node, sh.zeroOrOnePath)) is not None:
            return self.path(inner, depth + 1) + "?"
        if graph.value(node, rdflib.RDF.first) is not None:
            return "/".join(self.path(p, depth + 1) for p in Collection(graph, node))
        return "[]"

    def shape(self, node: Any, depth: int = 0) -> str:
        """A shape's IRI, or a blank shape as its place: `ex:S sh:property [sh:path p]`."""
        import rdflib

        if not isinstance(node, rdflib.BNode):
            return self.show(node)
        path = self.shapes.value(node, rdflib.Namespace(SHACL).path)
        own = f"[sh:path {self.path(path)}]" if path is not None else "[]"
        parent = next(iter(self.shapes.subject_predicates(node)), None)
        if parent is None or depth > 4:
            return own
        return f"{self.shape(parent[0], depth + 1)} {self.show(parent[1])} {own}"


def _message(report: Any, result: Any) -> str:
    import rdflib

    said = sorted(str(m) for m in report.objects(result, rdflib.Namespace(SHACL).resultMessage))
    return said[0] if said else "the data does not satisfy the shape"


def _result_finding(report: Any, result: Any, terms: Terms, redact: bool) -> OutputFinding:
    import rdflib

    sh = rdflib.Namespace(SHACL)
    severity, code = SEVERITIES.get(str(report.value(result, sh.resultSeverity)), OTHER_SEVERITY)
    shape = terms.shape(report.value(result, sh.sourceShape))
    if redact:  # the focus node, the value and pySHACL's messages are the data's text
        kind = code.removeprefix("shacl.")
        return OutputFinding(
            severity=severity, code=code, message=f"a SHACL {kind} result", rule=shape
        )
    focus, path = report.value(result, sh.focusNode), report.value(result, sh.resultPath)
    where = terms.show(focus) + (f" {terms.path(path)}" if path is not None else "")
    value = report.value(result, sh.value)
    message = _message(report, result)
    if value is not None:
        message += f" (value: {terms.show(value)})"
    return OutputFinding(
        severity=severity, code=code, message=_cut(message), path=where, rule=shape
    )


RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def results(report: Any, terms: Terms, redact: bool) -> list[OutputFinding]:
    """Each validation result of a report graph, as a finding, most severe first."""
    import rdflib

    found = [
        _result_finding(report, result, terms, redact)
        for result in report.subjects(rdflib.RDF.type, rdflib.Namespace(SHACL).ValidationResult)
    ]
    return sorted(found, key=lambda f: (RANK[f.severity], f.path or "", f.rule or "", f.message))


class ShapesFailed(Exception):
    """pySHACL could not apply the shapes (a SPARQL constraint it refuses, a cycle)."""


def _validate(data: Any, shapes: Any, ontology: Any, inference: str) -> Any:
    """pySHACL's report graph. Raises ShapesFailed."""
    import pyshacl
    from pyshacl.errors import ReportableRuntimeError

    try:
        _conforms, report, _text = pyshacl.validate(
            data,
            shacl_graph=shapes,
            ont_graph=ontology,
            inference=INFERENCE[inference],
            do_owl_imports=False,  # never: an import is a URL to fetch
            inplace=True,  # the data graph is this check's own
        )
    except ReportableRuntimeError as exc:
        raise ShapesFailed(str(exc.message)) from None
    if isinstance(report, Exception):  # pySHACL returns a ValidationFailure
        raise ShapesFailed(str(getattr(report, "message", report)))
    return report


def check_file(
    data: bytes, fmt: str | None, shapes: Any, ontology: Any, config: dict[str, Any], redact: bool
) -> list[OutputFinding]:
    """One file's findings against parsed shapes and ontology graph (or None)."""
    if fmt is None:
        return [
            _error(
                "shacl.format",
                "the file is not RDF Assay reads: send Turtle (.ttl, text/turtle), JSON-LD "
                "(.jsonld, application/ld+json), N-Triples (.nt, application/n-triples) "
                "or RDF/XML (.rdf, .owl, application/rdf+xml)",
            )
        ]
    try:
        graph = parse(data, fmt)
    except RdfRefused as refused:
        return [_error("shacl.refused", str(refused))]
    except RdfMalformed as bad:
        name = FORMAT_NAMES[fmt]
        said = f"the file is not valid {name}" + ("" if redact else f": {bad.reason}")
        return [_error("shacl.malformed", said, bad.line)]
    try:
        report = _validate(graph, shapes, ontology, str(config.get("inference", "none")))
    except ShapesFailed as failed:
        said = "" if redact else f": {_cut(str(failed), MAX_TERM)}"
        return [_error("shacl.shapes", "the shapes could not be applied to the file" + said)]
    return results(report, Terms(shapes, graph), redact)


def _ontology(config: dict[str, Any]) -> tuple[Any, list[OutputFinding]]:
    """The `ontologies` resources as one graph (None without any), and a finding for
    each that does not parse."""
    import rdflib

    graph, problems = rdflib.Graph(), []
    for item in config.get("ontology_texts", []):
        try:
            graph += parse(str(item["text"]).encode(), str(item["format"]))
        except (RdfMalformed, RdfRefused) as exc:
            reason = exc.reason if isinstance(exc, RdfMalformed) else str(exc)
            problems.append(
                _error("shacl.ontology", f"ontology {item['name']!r} cannot be read: {reason}")
            )
    return (graph if len(graph) else None), problems


def findings(config: dict[str, Any], files: list[Payload], redact: bool) -> list[OutputFinding]:
    """The engine's work, run only inside a sandbox (or the fast path's): each file
    checked against the shapes in `config` (resolved: texts in place of names)."""
    formats = config.get("formats") or [None] * len(files)
    found: list[OutputFinding] = []
    try:
        with offline():
            shapes = parse(str(config.get("shapes", "")).encode(), TURTLE)
            ontology, problems = _ontology(config)
            if problems:
                return problems
            for payload, fmt in zip(files, formats, strict=True):
                found += check_file(payload.read(), fmt, shapes, ontology, config, redact)
    except NetworkRefused as refused:
        return [_error("shacl.refused", f"the check tried to reach the network: {refused}")]
    return found


def resolved_config(envelope: InputEnvelope) -> dict[str, Any]:
    """The config with the shapes' and the ontologies' text read from the workflow's
    resources (the run's bundle, checked against the pinned checksums) and each file's
    syntax: read by this process, which can reach storage, never by the engine."""
    config = dict(envelope.config)
    name = config.pop("shapes_resource", None)
    if isinstance(name, str):
        config["shapes"] = _resource_text(envelope, name)
    config["ontology_texts"] = [
        {"name": n, "format": _resource_format(envelope, n), "text": _resource_text(envelope, n)}
        for n in config.pop("ontologies", [])
    ]
    config["formats"] = [rdf_format(f.name, f.content_type) for f in envelope.files]
    return config


def _resource_text(envelope: InputEnvelope, name: str) -> str:
    data = read_resource(envelope, name)
    if data is None:
        raise ValueError(f"the input names no resource {name!r}")
    return data.decode("utf-8", errors="replace")


def _resource_format(envelope: InputEnvelope, name: str) -> str:
    resource = next((r for r in envelope.resources if r.name == name), None)
    found = rdf_format(name, resource.content_type if resource else None)
    return found or TURTLE


def _with_metrics(result: ValidationResult) -> ValidationResult:
    counts = Counter(COUNTED.get(f.code) for f in result.findings)
    result.metrics.update({metric: counts[metric] for metric in COUNTED.values()})
    result.metrics["conforms"] = 0 if result.findings else 1
    return result


# The job's parent runs the engine in a sandbox; the sandbox and the fast path call it.
ENGINE = FindingsEngine(__name__, findings, resolved_config)
in_sandbox = ENGINE.in_sandbox


def inline(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    return _with_metrics(ENGINE.inline(envelope, files))


def validate(envelope: InputEnvelope, files: list[tuple[InputFile, Payload]]) -> ValidationResult:
    return _with_metrics(ENGINE.validate(envelope, files))
