"""XML parsing and schema compilation for the xml-schema validator, hardened: no network,
no file access, no DTD loading from the document, no entity declarations at all (a
billion-laughs or XXE file is refused, not expanded). The catalog compiles a step's
schema with it when the workflow is saved and the job compiles the same schema with it,
so the two cannot disagree; it imports nothing else of Assay, so the validator image
carries it alone.
"""

from __future__ import annotations

import contextlib
import functools
import io
import mmap
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Protocol

SCHEMA_TYPES = ("xsd", "relaxng", "dtd", "schematron")
MAX_SCHEMA_BYTES = 128 * 1024
CHUNK = 1024 * 1024
SCH = "{http://purl.oclc.org/dsdl/schematron}"
ALL_PHASES, DEFAULT_PHASE = "#ALL", "#DEFAULT"
# XSLT 1's one way to read another document from an XPath expression.
_DOCUMENT_CALL = re.compile(r"\bdocument\s*\(")


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


def compile_schema(schema_type: str, text: str, phase: str | None = None) -> Any:
    """A validator object for `text` (it has .validate(tree) and .error_log); `phase`
    selects a Schematron's active phase (a phase id, #ALL or #DEFAULT)."""
    from lxml import etree

    if schema_type not in SCHEMA_TYPES:
        raise XmlRefused(f"schema_type must be one of {list(SCHEMA_TYPES)}, not {schema_type!r}")
    if phase is not None and schema_type != "schematron":
        raise XmlRefused(f"phase applies to schematron schemas only, not {schema_type}")
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
        return _schematron(root, phase)
    except XmlRefused:
        raise
    except (etree.XMLSchemaParseError, etree.RelaxNGParseError, etree.DTDParseError) as exc:
        raise XmlRefused(f"the {schema_type} schema does not compile: {exc}") from None
    except (
        etree.SchematronParseError,
        etree.XSLTParseError,
        etree.XSLTApplyError,
        etree.XMLSyntaxError,
    ) as exc:
        raise XmlRefused(f"the {schema_type} schema does not compile: {exc}") from None


def _schematron(root: Any, phase: str | None) -> Any:
    _refuse_reading(root)
    _inherit_flags(root)
    return _sealed_schematron()(root, active_phase(root, phase))


@functools.cache
def _sealed_schematron() -> type:
    """lxml's Schematron with every XSLT step it runs (include, expand, compile and the
    validation itself) denied the file system and the network. lxml's own steps read
    what `<include href>` names, and a parser's resolver does not reach them."""
    from lxml import etree, isoschematron

    deny = etree.XSLTAccessControl.DENY_ALL
    folder = Path(isoschematron.__file__).parent / "resources" / "xsl"

    def sealed(*parts: str) -> Any:
        return etree.XSLT(etree.parse(str(folder.joinpath(*parts))), access_control=deny)

    class Sealed(isoschematron.Schematron):  # type: ignore[misc]  # lxml has no type stubs
        _extract_xsd = sealed("XSD2Schtrn.xsl")
        _extract_rng = sealed("RNG2Schtrn.xsl")
        _include = sealed("iso-schematron-xslt1", "iso_dsdl_include.xsl")
        _expand = sealed("iso-schematron-xslt1", "iso_abstract_expand.xsl")
        _compile = sealed("iso-schematron-xslt1", "iso_svrl_for_xslt1.xsl")

        def __init__(self, root: Any, phase: str) -> None:
            super().__init__(root, store_report=True, store_xslt=True, phase=phase)
            # lxml builds the validating stylesheet without access control: rebuilt with it.
            self._validator = etree.XSLT(self.validator_xslt, access_control=deny)

        def validate(self, tree: Any) -> bool:
            try:
                return bool(super().validate(tree))
            except etree.XSLTApplyError as exc:
                raise XmlRefused(f"the schematron schema failed on the file: {exc}") from None

    return Sealed


def _refuse_reading(root: Any) -> None:
    """A schema that reads another document (XPath's document(), an include) is refused
    when it is compiled, with a clear reason; the sealed steps would fail on it anyway."""
    from lxml import etree

    for element in root.iter(etree.Element):
        if element.tag in (f"{SCH}include", "{http://www.w3.org/2001/XInclude}include") or (
            element.get("href") is not None and element.tag.startswith(SCH)
        ):
            raise XmlRefused(
                f"the schema includes another document (its line {element.sourceline}); "
                "nothing is fetched: put the rules in the schema itself"
            )
        if any(_DOCUMENT_CALL.search(value) for value in element.attrib.values()):
            # The schema's line goes in the message: a finding's line is the file's.
            raise XmlRefused(
                f"the schema calls document() (its line {element.sourceline}); "
                "a schema may not read other documents"
            )


def _inherit_flags(root: Any) -> None:
    """An assert or report without @flag takes its rule's: the SVRL names a failed
    assertion's own flag only (its rule's @role it gives, on svrl:fired-rule)."""
    for rule in root.iter(f"{SCH}rule"):
        flag = rule.get("flag")
        if flag is None:
            continue
        for check in rule.iterchildren(f"{SCH}assert", f"{SCH}report"):
            if check.get("flag") is None:
                check.set("flag", flag)


def active_phase(root: Any, phase: str | None) -> str:
    """The phase to run: `phase` as the config names it; #DEFAULT (or no phase) is the
    schema's @defaultPhase, else #ALL. A phase the schema does not declare would run no
    pattern at all (lxml's skeleton only says so on stderr), so it is refused."""
    wanted, origin = phase or DEFAULT_PHASE, "phase"
    if wanted == DEFAULT_PHASE:
        wanted, origin = root.get("defaultPhase") or ALL_PHASES, "the schema's defaultPhase"
    if wanted == ALL_PHASES:
        return wanted
    declared = [found.get("id") for found in root.iter(f"{SCH}phase")]
    if wanted not in declared:
        raise XmlRefused(
            f"{origin} {wanted[:100]!r} is not a phase of the schema; "
            f"its phases: {declared[:20]}, or {ALL_PHASES!r} or {DEFAULT_PHASE!r}"
        )
    return wanted
