"""RDF in, read without the network: which syntax a file is in, and its graph.

Nothing here may fetch. rdflib dereferences a URL in three places a file or a shapes
graph controls: a JSON-LD `@context` (or `@import`) given as a URL, a SPARQL query's
`FROM` (SPARQL_LOAD_GRAPHS) and its `SERVICE`; pySHACL follows `owl:imports` when asked.
Each is closed where it starts (a remote context is refused before rdflib sees the
document, FROM is switched off, pySHACL is never asked to import) and `offline()` turns
any socket or URL opened while a check runs into NetworkRefused, for whatever path was
missed. The job's and the fast path's sandboxes have no network besides (decision
record 0081).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import posixpath
import sys
from collections.abc import Iterator
from typing import Any

# rdflib's names for the syntaxes Assay reads.
TURTLE, JSON_LD, NTRIPLES, RDF_XML = "turtle", "json-ld", "nt", "xml"
FORMAT_NAMES = {TURTLE: "Turtle", JSON_LD: "JSON-LD", NTRIPLES: "N-Triples", RDF_XML: "RDF/XML"}
BY_CONTENT_TYPE = {
    "text/turtle": TURTLE,
    "application/x-turtle": TURTLE,
    "application/ld+json": JSON_LD,
    "application/n-triples": NTRIPLES,
    "application/rdf+xml": RDF_XML,
}
BY_EXTENSION = {
    ".ttl": TURTLE,
    ".jsonld": JSON_LD,
    ".nt": NTRIPLES,
    ".rdf": RDF_XML,
    ".owl": RDF_XML,
}
# Content types that do not say which RDF syntax: the extension decides.
GENERIC = {
    "",
    "application/octet-stream",
    "binary/octet-stream",
    "text/plain",
    "application/json",
    "application/xml",
    "text/xml",
}
MAX_REASON = 160
EXCERPT = 40


def rdf_format(name: str | None, content_type: str | None) -> str | None:
    """The syntax of a file: its content type when that names one, else its extension's;
    None when neither does."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared in BY_CONTENT_TYPE:
        return BY_CONTENT_TYPE[declared]
    if declared not in GENERIC:
        return None
    return BY_EXTENSION.get(posixpath.splitext((name or "").lower())[1])


class NetworkRefused(Exception):
    """Something tried to reach the network while RDF was read or checked."""


class RdfRefused(Exception):
    """A file asks for what is never done (a remote JSON-LD context)."""


class RdfMalformed(Exception):
    """A file does not parse: `reason` is the parser's, cut short; `line` where known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.line = reason, line


_OFFLINE = contextvars.ContextVar("assay_rdf_offline", default=False)
_NETWORK_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sendto",
        "urllib.Request",
    }
)
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _NETWORK_EVENTS and _OFFLINE.get():
        raise NetworkRefused(f"network access refused ({event})")


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """No socket opens and no URL is requested in this context (an audit hook: it cannot
    be removed, so it is added once and does nothing outside the context)."""
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
        import rdflib.plugins.sparql

        # A query's FROM <url> would load that graph from the web.
        rdflib.plugins.sparql.SPARQL_LOAD_GRAPHS = False
    token = _OFFLINE.set(True)
    try:
        yield
    finally:
        _OFFLINE.reset(token)


def _remote_context(document: Any) -> bool:
    """Whether a JSON-LD document names a context by URL anywhere (`@context` as a
    string or in a list, or `@import` in a context object), walked without recursion."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            context = item.get("@context")
            contexts = context if isinstance(context, list) else [context]
            if any(isinstance(c, str) for c in contexts) or "@import" in item:
                return True
            stack.extend(item.values())
    return False


def _check_json_ld(data: bytes) -> None:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        raise RdfMalformed(f"not JSON: {str(exc)[:MAX_REASON]}", line) from None
    if _remote_context(document):
        raise RdfRefused(
            "the JSON-LD document names a remote @context (or @import): contexts are "
            "never fetched; put the context in the document"
        )


def _malformed(exc: Exception, data: bytes) -> RdfMalformed:
    """The parser's reason, never more of the file than a short excerpt at the error."""
    why = getattr(exc, "_why", None)
    if isinstance(why, str):  # notation3's BadSyntax: its str() quotes the whole file
        at = getattr(exc, "_i", 0)
        excerpt = data[at : at + EXCERPT].decode("utf-8", "replace").split("\n")[0]
        lines = getattr(exc, "lines", None)
        line = lines + 1 if isinstance(lines, int) else None
        return RdfMalformed(f"{why[:MAX_REASON]} near {excerpt!r}", line)
    get_line = getattr(exc, "getLineNumber", None)  # RDF/XML: expat's position
    line = get_line() if callable(get_line) else getattr(exc, "lineno", None)
    reason = f"{type(exc).__name__}: {str(exc)[:MAX_REASON]}"
    return RdfMalformed(reason, line if isinstance(line, int) and line > 0 else None)


def parse(data: bytes, fmt: str) -> Any:
    """The graph of `data` in syntax `fmt`. Raises RdfRefused, RdfMalformed or
    NetworkRefused; call it inside offline()."""
    import rdflib

    if fmt == JSON_LD:
        _check_json_ld(data)
    graph = rdflib.Graph()
    try:
        graph.parse(data=data, format=fmt)
    except NetworkRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser error is the file's
        raise _malformed(exc, data) from None
    return graph
