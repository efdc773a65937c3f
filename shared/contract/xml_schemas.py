"""XML parsing and schema compilation for the xml-schema validator, hardened: no network,
no file access, no DTD loading from the document, no entity declarations at all (a
billion-laughs or XXE file is refused, not expanded). The catalog compiles a step's
schema with it when the workflow is saved and the job compiles the same schema with it,
so the two cannot disagree; it imports nothing else of Assay, so the validator image
carries it alone.
"""

from __future__ import annotations

import contextlib
import io
import mmap
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import IO, Any, Protocol

SCHEMA_TYPES = ("xsd", "relaxng", "dtd", "schematron")
MAX_SCHEMA_BYTES = 128 * 1024
CHUNK = 1024 * 1024


class XmlRefused(ValueError):
    """The text cannot be used: not well-formed, or it asks for what is not allowed."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def _resolver() -> Any:
    from lxml import etree

    class Refuse(etree.Resolver):  # type: ignore[misc]  # lxml has no type stubs
        """Every external reference (xs:import, xs:include, rng:include, DTD) is refused."""

        def resolve(self, url: str, pubid: str, context: Any) -> Any:
            raise XmlRefused(f"external reference {url!r} is not allowed: nothing is fetched")

    return Refuse()


def safe_parser() -> Any:
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    parser.resolvers.add(_resolver())
    return parser


class Document(Protocol):
    """A document on disk or in memory (validators.payload.Payload is one)."""

    def view(self) -> AbstractContextManager[bytes | mmap.mmap]: ...

    def open(self) -> AbstractContextManager[IO[bytes]]: ...


def parse(document: bytes | Document) -> Any:
    """The document's tree, or XmlRefused with where it went wrong. A document on disk
    is scanned mapped and parsed as lxml reads it, never whole in Python's memory."""
    from lxml import etree

    if isinstance(document, bytes):
        return parse(_InMemory(document))
    with document.view() as view:
        at = view.find(b"<!ENTITY")
        if at >= 0:
            # Counted a slice at a time: a mapped file is never copied whole.
            line = 1 + sum(
                view[start : min(at, start + CHUNK)].count(b"\n") for start in range(0, at, CHUNK)
            )
            raise XmlRefused("the file declares entities (<!ENTITY>); they are not accepted", line)
    try:
        with document.open() as stream:
            return etree.parse(stream, safe_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position or (0, 0)
        raise XmlRefused(
            f"the file is not well-formed XML: {exc.msg}", line or None, column or None
        ) from None


class _InMemory:
    def __init__(self, data: bytes) -> None:
        self.data = data

    @contextlib.contextmanager
    def view(self) -> Iterator[bytes]:
        yield self.data

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        yield io.BytesIO(self.data)


def compile_schema(schema_type: str, text: str) -> Any:
    """A validator object for `text` (it has .validate(tree) and .error_log)."""
    from lxml import etree, isoschematron

    if schema_type not in SCHEMA_TYPES:
        raise XmlRefused(f"schema_type must be one of {list(SCHEMA_TYPES)}, not {schema_type!r}")
    if not text.strip():
        raise XmlRefused("schema is empty")
    if len(text.encode()) > MAX_SCHEMA_BYTES:
        raise XmlRefused(f"schema is over {MAX_SCHEMA_BYTES} bytes")
    try:
        if schema_type == "dtd":
            if "<!ENTITY" in text:
                raise XmlRefused("the DTD declares entities; they are not accepted")
            return etree.DTD(io.StringIO(text))
        root = parse(text.encode()).getroot()
        if schema_type == "xsd":
            return etree.XMLSchema(root)
        if schema_type == "relaxng":
            return etree.RelaxNG(root)
        return isoschematron.Schematron(root, store_report=True)
    except XmlRefused:
        raise
    except (etree.XMLSchemaParseError, etree.RelaxNGParseError, etree.DTDParseError) as exc:
        raise XmlRefused(f"the {schema_type} schema does not compile: {exc}") from None
    except (etree.SchematronParseError, etree.XSLTParseError, etree.XMLSyntaxError) as exc:
        raise XmlRefused(f"the {schema_type} schema does not compile: {exc}") from None
