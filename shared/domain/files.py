"""What kind of file a submission is, from its declared content type and its name."""

from __future__ import annotations

import posixpath

_BY_EXTENSION = {
    ".json": "json",
    ".epjson": "epjson",
    ".xml": "xml",
    ".idf": "idf",
    ".fmu": "fmu",
    ".csv": "csv",
    ".txt": "text",
    # RDF: Turtle and N-Triples are types of their own; JSON-LD is JSON and RDF/XML is
    # XML (the shacl validator reads each syntax, the others take them as JSON or XML).
    ".ttl": "turtle",
    ".nt": "ntriples",
    ".jsonld": "json",
    ".rdf": "xml",
    ".owl": "xml",
}

_BY_CONTENT_TYPE = {
    "application/json": "json",
    "text/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/csv": "csv",
    "text/plain": "text",
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/n-triples": "ntriples",
}

_GENERIC = {"", "application/octet-stream", "binary/octet-stream"}


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


# Text formats with no media type of their own (an IDF) are sent as text/plain: there
# the extension, when it names a type, is the more specific of the two.
_TEXT = "text/plain"


def detect_file_type(filename: str | None, content_type: str | None) -> str:
    """A specific declared content type wins; a generic one defers to the extension."""
    declared = media_type(content_type)
    extension = posixpath.splitext((filename or "").lower())[1]
    if declared == _TEXT and extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    if declared not in _GENERIC:
        if declared in _BY_CONTENT_TYPE:
            return _BY_CONTENT_TYPE[declared]
        if declared.endswith("+json"):
            return "json"
        if declared.endswith("+xml"):
            return "xml"
    if extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    return "binary" if declared in _GENERIC else declared
