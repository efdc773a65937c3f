"""The shacl validator with real pySHACL: the Brick examples conforming and not, a
finding of each severity with its focus node, path, value and source shape, inference
changing the outcome, the syntaxes by content type or extension, malformed and unknown
files as findings, redaction, the config refused at save, and nothing fetched from the
network (owl:imports, a remote JSON-LD @context, an RDF/XML external entity, SPARQL's
SERVICE, any socket), each proven against a local HTTP server that must see no request."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.catalog.validators import ConfigError, get_validator
from shared.contract.envelopes import InputEnvelope, InputFile
from shared.contract.severity import Severity
from tests.factories import input_envelope
from validators.payload import Payload
from validators.runtime import ValidationResult
from validators.shacl.rdf import NetworkRefused, offline, rdf_format
from validators.shacl.validator import inline, resolved_config, validate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SHAPES = (EXAMPLES / "brick-shapes.ttl").read_text()
MODEL = (EXAMPLES / "brick-model.ttl").read_bytes()
INVALID = (EXAMPLES / "brick-model-invalid.ttl").read_bytes()
ONTOLOGY = (EXAMPLES / "brick-ontology-excerpt.ttl").read_bytes()
PREFIXES = """@prefix brick: <https://brickschema.org/schema/Brick#> .
@prefix ref: <https://brickschema.org/schema/Brick/ref#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix bldg: <urn:example:building#> .
"""


def _file(name: str = "model.ttl", content_type: str = "text/turtle") -> InputFile:
    return InputFile(
        name=name, uri="file:///x", sha256="0" * 64, size_bytes=1, content_type=content_type
    )


def _resource(folder: Path, name: str, data: bytes) -> InputFile:
    path = folder / name
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return InputFile(
        name=name, uri=path.as_uri(), sha256=digest, size_bytes=len(data), content_type=""
    )


def _run(
    data: bytes,
    config: dict[str, Any] | None = None,
    file: InputFile | None = None,
    resources: list[InputFile] | None = None,
    redact: bool = False,
) -> ValidationResult:
    """The check as the fast path runs it: the config resolved, then the engine inline."""
    item = file or _file()
    envelope = input_envelope(
        "shacl",
        config=config if config is not None else {"shapes": SHAPES},
        files=[item],
        resources=resources or [],
        redact_values=redact,
    )
    resolved = envelope.model_copy(update={"config": resolved_config(envelope)})
    return inline(resolved, [(item, Payload(data=data))])


def test_the_conforming_brick_model_has_no_findings() -> None:
    result = _run(MODEL)
    assert result.findings == []
    assert result.metrics == {"files": 1, "violations": 0, "warnings": 0, "infos": 0, "conforms": 1}


def test_each_result_is_a_finding_with_its_severity_focus_path_and_shape() -> None:
    result = _run(INVALID)
    found = [(f.severity, f.code, f.path, f.rule, f.message) for f in result.findings]
    assert found == [
        (
            Severity.ERROR,
            "shacl.violation",
            "bldg:AHU1 brick:hasPoint",
            "shapes:AHUSupplyAirSensor sh:property [sh:path brick:hasPoint]",
            "an AHU needs a supply air temperature sensor",
        ),
        (
            Severity.ERROR,
            "shacl.violation",
            "bldg:VAV2 brick:isFedBy",
            "shapes:VAVFedByAHU sh:property [sh:path brick:isFedBy]",
            "a VAV must be fed by an AHU",
        ),
        (
            Severity.WARNING,
            "shacl.warning",
            "bldg:VAV1_ZAT ref:hasExternalReference",
            "shapes:PointTimeseries sh:property [sh:path ref:hasExternalReference]",
            "a point should link to its time series",
        ),
        (
            Severity.INFO,
            "shacl.info",
            "bldg:VAV2 rdfs:label",
            "shapes:EquipmentLabel sh:property [sh:path rdfs:label]",
            "equipment should have a label",
        ),
    ]
    assert result.metrics == {"files": 1, "violations": 2, "warnings": 1, "infos": 1, "conforms": 0}


def test_a_value_is_quoted_and_an_iri_shape_is_named_by_its_iri() -> None:
    shapes = (
        PREFIXES
        + """bldg:LabelLength a sh:PropertyShape ;
        sh:targetClass brick:AHU ; sh:path rdfs:label ; sh:maxLength 3 ."""
    )
    (finding,) = _run(MODEL, {"shapes": shapes}).findings
    assert finding.rule == "bldg:LabelLength" and finding.path == "bldg:AHU1 rdfs:label"
    assert finding.message.endswith('(value: "AHU-1")')


def test_a_complex_path_reads_as_sparql_and_a_custom_severity_is_a_violation() -> None:
    shapes = (
        PREFIXES
        + """bldg:FedTwice a sh:NodeShape ; sh:targetClass brick:VAV ;
        sh:property [ sh:path [ sh:inversePath brick:feeds ] ; sh:minCount 2 ] ;
        sh:property [ sh:path ( brick:hasPoint ref:hasExternalReference ) ; sh:maxCount 0 ;
                      sh:severity bldg:Blocker ] ."""
    )
    found = {(f.code, f.path) for f in _run(MODEL, {"shapes": shapes}).findings}
    assert found == {
        ("shacl.violation", "bldg:VAV1 ^brick:feeds"),
        ("shacl.violation", "bldg:VAV1 brick:hasPoint/ref:hasExternalReference"),
    }


def test_under_do_not_store_a_finding_quotes_nothing_of_the_data() -> None:
    secret = INVALID.replace(b"bldg:VAV2", b"bldg:Secret_Room_42")
    result = _run(secret, redact=True)
    assert [f.code for f in result.findings] == [
        "shacl.violation",
        "shacl.violation",
        "shacl.warning",
        "shacl.info",
    ]
    assert all(f.path is None for f in result.findings)
    assert not [f for f in result.findings if "Secret" in f.model_dump_json()]
    assert result.metrics["violations"] == 2


def _with(ontology: bool, inference: str) -> dict[str, Any]:
    return {
        "shapes": SHAPES,
        "inference": inference,
        **({"ontologies": ["brick.ttl"]} if ontology else {}),
    }


@pytest.mark.parametrize(
    "ontology, inference, codes",
    [
        # The ontology's rdfs:subPropertyOf says a time series reference is an external
        # reference: only RDFS inference knows it.
        (False, "none", ["shacl.warning", "shacl.warning"]),
        (True, "none", ["shacl.warning", "shacl.warning"]),
        (True, "rdfs", []),
        (True, "owlrl", []),
    ],
)
def test_rdfs_inference_with_the_ontology_changes_the_outcome(
    tmp_path: Path, ontology: bool, inference: str, codes: list[str]
) -> None:
    timeseries = MODEL.replace(b"ref:hasExternalReference", b"ref:hasTimeseriesReference")
    brick = _resource(tmp_path, "brick.ttl", ONTOLOGY)
    result = _run(timeseries, _with(ontology, inference), resources=[brick])
    assert [f.code for f in result.findings] == codes


def test_owl_rl_inference_knows_inverse_properties(tmp_path: Path) -> None:
    # VAV1 says nothing of what feeds it; AHU1 says it feeds VAV1 (owl:inverseOf).
    unsaid = MODEL.replace(b"brick:isFedBy bldg:AHU1 ;", b"")
    brick = _resource(tmp_path, "brick.ttl", ONTOLOGY)
    for inference, codes in (("rdfs", ["shacl.violation"]), ("owlrl", [])):
        result = _run(unsaid, _with(True, inference), resources=[brick])
        assert [f.code for f in result.findings] == codes, inference


def test_the_ontology_makes_a_subclass_a_target(tmp_path: Path) -> None:
    # An RTU is an AHU only in the ontology: without it the RTU is nobody's target.
    rtu = INVALID.replace(b"bldg:AHU1 a brick:AHU", b"bldg:AHU1 a brick:RTU")
    brick = _resource(tmp_path, "brick.ttl", ONTOLOGY)
    without = _run(rtu, {"shapes": SHAPES})
    with_it = _run(rtu, _with(True, "none"), resources=[brick])
    assert "bldg:AHU1 brick:hasPoint" not in [f.path for f in without.findings]
    assert "bldg:AHU1 brick:hasPoint" in [f.path for f in with_it.findings]


JSON_LD = json.dumps(
    {
        "@context": {
            "brick": "https://brickschema.org/schema/Brick#",
            "bldg": "urn:example:building#",
        },
        "@graph": [{"@id": "bldg:VAV9", "@type": "brick:VAV"}],
    }
).encode()
NTRIPLES = (
    b"<urn:example:building#VAV9> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
    b"<https://brickschema.org/schema/Brick#VAV> .\n"
)
RDF_XML = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns:brick="https://brickschema.org/schema/Brick#">
  <brick:VAV rdf:about="urn:example:building#VAV9"/>
</rdf:RDF>"""


@pytest.mark.parametrize(
    "data, name, content_type",
    [
        (JSON_LD, "m.jsonld", "application/ld+json"),
        (JSON_LD, "m.jsonld", "application/octet-stream"),
        (NTRIPLES, "m.nt", "application/n-triples"),
        (NTRIPLES, "m.nt", "text/plain"),
        (RDF_XML, "m.rdf", "application/rdf+xml"),
        (RDF_XML, "m.owl", "application/xml"),
    ],
)
def test_each_syntax_is_read_by_content_type_or_extension(
    data: bytes, name: str, content_type: str
) -> None:
    result = _run(data, file=_file(name, content_type))
    paths = [f.path for f in result.findings if f.code == "shacl.violation"]
    # The focus node by a prefix the file declares (JSON-LD's context), else whole.
    assert paths in (["<urn:example:building#VAV9> brick:isFedBy"], ["bldg:VAV9 brick:isFedBy"])


def test_the_syntax_comes_from_a_specific_content_type_before_the_extension() -> None:
    assert rdf_format("m.nt", "text/turtle; charset=utf-8") == "turtle"
    assert rdf_format("m.ttl", "application/json") == "turtle"
    assert rdf_format("m.json", "application/json") is None
    assert rdf_format("m.csv", "text/csv") is None


def test_a_file_in_no_rdf_syntax_is_refused_as_a_finding() -> None:
    (finding,) = _run(b"a,b\n1,2\n", file=_file("m.csv", "text/csv")).findings
    assert (finding.severity, finding.code) == (Severity.ERROR, "shacl.format")
    assert "Turtle" in finding.message


def test_malformed_turtle_is_a_finding_with_a_short_excerpt_and_its_line() -> None:
    broken = MODEL + b"\nbldg:X brick:feeds " + b"secret-and-long " * 100 + b";; .\n"
    (finding,) = _run(broken).findings
    assert (finding.code, finding.line) == ("shacl.malformed", broken.count(b"\n"))
    assert finding.message.startswith("the file is not valid Turtle: ")
    assert len(finding.message) < 300 and finding.message.count("secret") <= 3
    (redacted,) = _run(broken, redact=True).findings
    assert redacted.message == "the file is not valid Turtle" and "secret" not in str(redacted)


@pytest.mark.parametrize(
    "data, name",
    [(b'{"@id": ', "m.jsonld"), (b"<a> <b> .\n", "m.nt"), (b"<rdf:RDF>", "m.rdf")],
)
def test_other_malformed_syntaxes_are_findings(data: bytes, name: str) -> None:
    (finding,) = _run(data, file=_file(name, "")).findings
    assert finding.code == "shacl.malformed"


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that answers anything: every request it sees is a failure."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/turtle")
            self.end_headers()
            self.wfile.write(b"<urn:a> <urn:b> <urn:c> .\n")

        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_owl_imports_are_never_followed(tmp_path: Path, listener: tuple[str, list[str]]) -> None:
    url, hits = listener
    imports = f"<urn:example:m> <http://www.w3.org/2002/07/owl#imports> <{url}/brick.ttl> .\n"
    shapes = SHAPES + f"\n<urn:example:s> owl:imports <{url}/shapes.ttl> .\n".replace(
        "owl:", "<http://www.w3.org/2002/07/owl#"
    ).replace("#imports", "#imports>")
    ontology = _resource(tmp_path, "brick.ttl", ONTOLOGY + imports.encode())
    for inference in ("none", "rdfs", "owlrl"):
        config = {"shapes": shapes, "inference": inference, "ontologies": ["brick.ttl"]}
        result = _run(MODEL + imports.encode(), config, resources=[ontology])
        assert result.findings == [], inference
    assert hits == []


def test_a_remote_json_ld_context_is_refused_and_not_fetched(
    listener: tuple[str, list[str]],
) -> None:
    url, hits = listener
    for context in (f"{url}/context.jsonld", [f"{url}/a.jsonld", {"x": "urn:x#"}]):
        document = {"@context": context, "@id": "urn:example:building#VAV9"}
        nested = {"@context": {}, "@graph": [{"@context": {"@import": f"{url}/i"}}]}
        for doc in (document, nested):
            data = json.dumps(doc).encode()
            (finding,) = _run(data, file=_file("m.jsonld", "application/ld+json")).findings
            assert (finding.code, finding.severity) == ("shacl.refused", Severity.ERROR)
    assert hits == []


def test_an_rdf_xml_external_entity_or_dtd_is_not_fetched(
    listener: tuple[str, list[str]],
) -> None:
    url, hits = listener
    entity = RDF_XML.replace(
        b"<rdf:RDF",
        f'<!DOCTYPE rdf:RDF [<!ENTITY ext SYSTEM "{url}/ext">]>\n<rdf:RDF'.encode(),
    ).replace(b"</rdf:RDF>", b"<brick:VAV rdf:about='urn:x#a'>&ext;</brick:VAV></rdf:RDF>")
    dtd = RDF_XML.replace(b"<rdf:RDF", f'<!DOCTYPE rdf:RDF SYSTEM "{url}/dtd">\n<rdf:RDF'.encode())
    for data in (entity, dtd):
        _run(data, file=_file("m.rdf", "application/rdf+xml"))
    assert hits == []


def test_sparql_in_the_shapes_reaches_no_endpoint(listener: tuple[str, list[str]]) -> None:
    url, hits = listener
    query = f"SELECT $this WHERE {{ SERVICE <{url}/sparql> {{ ?s ?p ?o }} }}"
    service = (
        PREFIXES
        + f"""bldg:Remote a sh:NodeShape ; sh:targetClass brick:VAV ;
      sh:sparql [ sh:select \"\"\"{query}\"\"\" ] ."""
    )
    with pytest.raises(ConfigError, match="SERVICE"):
        get_validator("shacl").check_config({"shapes": service})
    refused = _run(MODEL, {"shapes": service}).findings
    assert [f.code for f in refused] == ["shacl.shapes"]  # pySHACL refuses it too
    assert hits == []


def test_while_a_check_runs_no_socket_opens_whatever_asks(listener: tuple[str, list[str]]) -> None:
    """The last guard, for a path the others missed: an audit hook refuses any socket or
    URL opened inside offline(), and nothing outside it."""
    import urllib.request

    url, hits = listener
    with offline(), pytest.raises(NetworkRefused):
        urllib.request.urlopen(f"{url}/inside", timeout=5)
    assert hits == []
    with urllib.request.urlopen(f"{url}/outside", timeout=5) as answer:
        assert answer.status == 200
    assert hits == ["/outside"]


@pytest.mark.parametrize(
    "config, words",
    [
        ({"shapes": "@prefix sh: <http://www.w3.org/ns/shacl#> . sh:x sh:y"}, "not valid Turtle"),
        (
            {"shapes": PREFIXES + "bldg:S a sh:NodeShape ; sh:property [ sh:minCount 1 ] ."},
            "not valid SHACL",
        ),
        (
            {
                "shapes": PREFIXES + "bldg:S a sh:NodeShape ; sh:targetClass brick:AHU ; "
                'sh:property [ sh:path rdfs:label ; sh:minCount "one" ] .'
            },
            "not valid SHACL",
        ),
        ({"shapes": SHAPES, "inference": "owl"}, "inference"),
        ({"shapes": SHAPES, "ontologies": "brick.ttl"}, "ontologies"),
        ({"shapes": SHAPES, "imports": True}, "unknown config keys"),
        ({}, "shapes is required"),
    ],
)
def test_bad_configs_are_refused_at_save(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        get_validator("shacl").check_config(config)


def test_good_configs_pass_and_shapes_without_a_shape_warn() -> None:
    spec = get_validator("shacl")
    assert spec.check({"shapes": SHAPES, "inference": "rdfs", "ontologies": ["b.ttl"]}) == []
    assert spec.check_config({"shapes": PREFIXES}) == [
        "config.shapes declares no shape: every file will conform"
    ]
    with pytest.raises(ConfigError):
        spec.check({"shapes": SHAPES, "shapes_resource": "s.ttl"})


def test_the_job_reads_shapes_and_ontologies_from_the_bundle_and_checks_in_a_sandbox(
    tmp_path: Path,
) -> None:
    shapes = _resource(tmp_path, "shapes.ttl", SHAPES.encode())
    brick = _resource(tmp_path, "brick.ttl", ONTOLOGY)
    rtu = INVALID.replace(b"bldg:AHU1 a brick:AHU", b"bldg:AHU1 a brick:RTU")
    item = _file()
    envelope: InputEnvelope = input_envelope(
        "shacl",
        config={"shapes_resource": "shapes.ttl", "ontologies": ["brick.ttl"], "inference": "rdfs"},
        files=[item],
        resources=[shapes, brick],
    )
    result = validate(envelope, [(item, Payload(data=rtu))])
    assert result.metrics == {"files": 1, "violations": 2, "warnings": 1, "infos": 1, "conforms": 0}
    assert "bldg:AHU1 brick:hasPoint" in [f.path for f in result.findings]
