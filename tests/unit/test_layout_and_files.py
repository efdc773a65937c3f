import pytest

from shared.adapters.storage.layout import Layout, safe_filename
from shared.domain.files import detect_file_type

L = Layout("file:///data")


def test_paths_follow_the_storage_layout():
    assert L.submission_file("o", "s", "a.json") == "file:///data/submissions/o/s/a.json"
    assert L.run_prefix("o", "r") == "file:///data/runs/o/r/"
    assert L.input_envelope("o", "r", 0, 1) == "file:///data/runs/o/r/steps/0/1/input.json"
    assert L.output_envelope("o", "r", 2, 3) == "file:///data/runs/o/r/steps/2/3/output.json"


@pytest.mark.parametrize(
    ("uri", "inside"),
    [
        ("file:///data/runs/o/r/steps/0/1/output.json", True),
        ("file:///data/runs/o/r/steps/0/1/../2/output.json", False),
        ("file:///data/runs/o/r/steps/0/2/output.json", False),
        ("file:///data/runs/o/r/steps/0/1/", False),
        ("file:///data/runs/o/r/steps/0/1/%2e%2e/x", False),
        ("file:///data/runs/o/r2/steps/0/1/output.json", False),
    ],
)
def test_result_uri_must_stay_inside_the_attempt_folder(uri, inside):
    assert L.is_inside(uri, L.attempt_prefix("o", "r", 0, 1)) is inside


def test_file_names_cannot_escape():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("") == "submission"
    assert safe_filename("my data (1).json") == "my_data_1_.json"


@pytest.mark.parametrize(
    ("name", "content_type", "kind"),
    [
        ("a.json", "application/octet-stream", "json"),
        (None, "application/json; charset=utf-8", "json"),
        (None, "application/geo+json", "json"),
        ("a.xml", "application/xml", "xml"),
        ("model.idf", "", "idf"),
        (None, "application/octet-stream", "binary"),
        ("a.json", "application/xml", "xml"),
        ("model.idf", "text/plain; charset=utf-8", "idf"),
        ("notes.log", "text/plain", "text"),
        (None, "text/plain", "text"),
        ("building.ttl", "application/octet-stream", "turtle"),
        ("building.ttl", "text/plain", "turtle"),
        (None, "text/turtle; charset=utf-8", "turtle"),
        ("points.nt", "", "ntriples"),
        (None, "application/ld+json", "json"),
        ("model.jsonld", "", "json"),
        (None, "application/rdf+xml", "xml"),
        ("brick.owl", "", "xml"),
        (None, "application/vnd.other+xml", "xml"),
    ],
)
def test_file_type_detection(name, content_type, kind):
    assert detect_file_type(name, content_type) == kind
