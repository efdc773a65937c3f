"""XML parsing and schema compilation for the xml-schema validator, hardened: no network,
no file access, no DTD loading from the document, no entity declarations at all (a
billion-laughs or XXE file is refused, not expanded). The catalog compiles a step's
schema with it when the workflow is saved and the job compiles the same schema with it,
so the two cannot disagree; it imports nothing else of Assay, so the validator image
carries it alone.

Schematron runs on lxml's XSLT 1 skeleton, or, for `queryBinding="xslt2"`/`"xslt3"`,
through SchXslt2 on SaxonC-HE (decision record 0080), sealed the same way: nothing is
read or written outside the schema and the file. The transpiler and the built-in
schemas (BUILTIN_SCHEMAS) are files of validators/xml_schema/, read by path: the api
function and the validator's image both carry that folder.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import mmap
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Protocol

from shared.contract.builtin_schemas import BUILTIN_SCHEMAS

SCHEMA_TYPES = ("xsd", "relaxng", "dtd", "schematron")
MAX_SCHEMA_BYTES = 128 * 1024
CHUNK = 1024 * 1024
SCH = "{http://purl.oclc.org/dsdl/schematron}"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
ALL_PHASES, DEFAULT_PHASE = "#ALL", "#DEFAULT"
# XSLT 1's one way to read another document from an XPath expression.
_DOCUMENT_CALL = re.compile(r"\bdocument\s*\(")
XSLT2_BINDINGS = ("xslt2", "xslt3")
XSL = "{http://www.w3.org/1999/XSL/Transform}"
_BUNDLE = Path(__file__).resolve().parents[2] / "validators" / "xml_schema"
TRANSPILER = _BUNDLE / "schxslt2" / "transpile.xsl"
BUILTIN_FOLDER = _BUNDLE / "builtin"
# A built-in schema is ours, not an author's: ASHRAE 211 level 2 is 300 kB.
MAX_BUILTIN_BYTES = 1024 * 1024


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


def builtin_schema(name: str) -> str | None:
    """The text of the built-in schema `name`; None when no built-in has that name."""
    if name not in BUILTIN_SCHEMAS:
        return None
    try:
        return (BUILTIN_FOLDER / name).read_text(encoding="utf-8")
    except OSError:  # a deployment without the package's data files
        raise XmlRefused(f"the built-in schema {name!r} is not installed here") from None


def compile_schema(
    schema_type: str, text: str, phase: str | None = None, limit: int = MAX_SCHEMA_BYTES
) -> Any:
    """A validator object for `text` (it has .validate(tree) and .error_log); `phase`
    selects a Schematron's active phase (a phase id, #ALL or #DEFAULT); `limit` is the
    schema's size in bytes at most (MAX_BUILTIN_BYTES for a built-in)."""
    from lxml import etree

    if schema_type not in SCHEMA_TYPES:
        raise XmlRefused(f"schema_type must be one of {list(SCHEMA_TYPES)}, not {schema_type!r}")
    if phase is not None and schema_type != "schematron":
        raise XmlRefused(f"phase applies to schematron schemas only, not {schema_type}")
    if not text.strip():
        raise XmlRefused("schema is empty")
    if len(text.encode()) > limit:
        raise XmlRefused(f"schema is over {limit} bytes")
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
    if query_binding(root) in XSLT2_BINDINGS:
        _refuse_xslt2_escapes(root)
        return SaxonSchematron(root, active_phase(root, phase))
    return _sealed_schematron()(root, active_phase(root, phase))


def query_binding(root: Any) -> str:
    """The schema's query language, lower-cased; ISO Schematron's default is XSLT 1."""
    return str(root.get("queryBinding") or "xslt").strip().lower()


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


# XPath 2/3 functions that read what is not the schema or the file (other documents,
# text files, directories, the environment), or reach any function by its name; the
# name followed by a call or a function reference (`doc#1`), prefixed or not.
_XSLT2_READING = re.compile(
    r"(?<![\w.$-])(doc|document|doc-available|unparsed-text|unparsed-text-lines"
    r"|unparsed-text-available|collection|uri-collection|json-doc|environment-variable"
    r"|available-environment-variables|function-lookup|transform|load-xquery-module)"
    r"\s*[(#]"
)
# XSLT instructions that read or write other documents, or run an expression built at
# run time (which no check of the schema's text can see).
_XSL_REFUSED = frozenset(
    f"{XSL}{name}"
    for name in (
        "include",
        "import",
        "import-schema",
        "use-package",
        "result-document",
        "source-document",
        "evaluate",
    )
)
SAXON_NAMESPACE = "http://saxon.sf.net/"


def _refuse_xslt2_escapes(root: Any) -> None:
    """What an XSLT 2/3 schema may do beyond an XSLT 1 one, refused with a reason: the
    sealed processor (`allowedProtocols` empty) is the backstop for reads; these also
    cover the environment, writes and expressions run at compile time."""
    from lxml import etree

    texts_evaluated = any(
        etree.QName(name).localname == "expand-text"
        for element in root.iter(etree.Element)
        for name in element.attrib
    )
    for element in root.iter(etree.Element):
        where = f"(its line {element.sourceline})"
        if element.tag in _XSL_REFUSED:
            name = etree.QName(element).localname
            raise XmlRefused(f"the schema uses xsl:{name} {where}; it may not read or write files")
        if SAXON_NAMESPACE in element.nsmap.values():
            raise XmlRefused(f"the schema uses Saxon's extensions {where}; they are not allowed")
        _refuse_attributes(element, where)
        if texts_evaluated and _XSLT2_READING.search(element.text or ""):
            raise XmlRefused(f"the schema's text reads other documents {where}; it may not")


def _refuse_attributes(element: Any, where: str) -> None:
    from lxml import etree

    for name, value in element.attrib.items():
        local = etree.QName(name).localname
        found = _XSLT2_READING.search(value)
        if found:
            raise XmlRefused(
                f"the schema calls {found.group(1)}() {where}; a schema may not read "
                "other documents or the environment"
            )
        if SAXON_NAMESPACE in value:
            raise XmlRefused(f"the schema uses Saxon's extensions {where}; they are not allowed")
        if local == "use-when" or (
            element.tag.startswith(XSL) and (local == "static" or local.startswith("_"))
        ):
            # Evaluated while the schema compiles, at save, in the api's own process.
            raise XmlRefused(f"the schema has a compile-time expression ({local}) {where}")
        if local == "documents":
            raise XmlRefused(f"the schema validates other documents (@documents) {where}")


# queryBinding="xslt2"/"xslt3" in a schema's text: which engine, and so which sandbox,
# a config needs before it is compiled (a wrong guess fails as a refused schema would).
_XSLT2_BINDING = re.compile(r"""queryBinding\s*=\s*["']\s*xslt[23]\s*["']""", re.IGNORECASE)


def needs_saxon(config: dict[str, Any]) -> bool:
    """Whether the config's schema (its text, or the built-in it names) is a Schematron
    for XSLT 2 or 3: one that runs on Saxon, as a job only."""
    if config.get("schema_type") != "schematron":
        return False
    text = config.get("schema")
    if not isinstance(text, str):
        name = config.get("schema_resource")
        text = builtin_schema(name) if isinstance(name, str) else None
    return bool(text and _XSLT2_BINDING.search(text))


def _saxon_module() -> Any:
    # Imported by name: saxonche ships no type information.
    return importlib.import_module("saxonche")


@functools.cache
def _saxon() -> tuple[Any, Any]:
    """This process's SaxonC-HE processor and SchXslt2 compiled on it. Created on first
    use, never at import: the fast path's fork server must not fork a live isolate.
    `allowedProtocols` empty: nothing it runs may open a URI (doc(), document(),
    unparsed-text(), collection(), includes, a DTD or an external entity)."""
    processor = _saxon_module().PySaxonProcessor(license=False)
    processor.set_configuration_property("http://saxon.sf.net/feature/allowedProtocols", "")
    processor.set_cwd("/")  # the base of a stylesheet given as text: not our folder's name
    compiler = processor.new_xslt30_processor()
    transpiler = compiler.compile_stylesheet(stylesheet_text=TRANSPILER.read_text("utf-8"))
    return processor, transpiler


def _said(exc: Exception, executable: Any = None) -> str:
    """Why Saxon stopped, on one line, cut: the stylesheet's own xsl:message when it
    said one (SchXslt2 names the dynamic error there), else Saxon's error."""
    messages = executable.get_xsl_messages() if executable is not None else None
    text = " ".join(str(messages or exc).split())
    return text if len(text) <= 300 else text[:299] + "…"


def _run(executable: Any, processor: Any, text: str) -> str:
    """`executable` applied to the XML `text`; a result document it would write is kept
    in memory (and dropped), never written; its xsl:messages are kept for _said."""
    executable.set_capture_result_documents(True)
    executable.set_save_xsl_message(True)
    return str(executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=text)))


class SaxonSchematron:
    """An XSLT 2/3 Schematron: SchXslt2 turns it into an XSLT 3 stylesheet for `phase`,
    Saxon compiles it; `.validate(tree)` leaves the SVRL in `.validation_report`, as
    lxml's Schematron does."""

    def __init__(self, root: Any, phase: str) -> None:
        from lxml import etree

        self.processor, transpiler = _saxon()
        error = _saxon_module().PySaxonApiError
        run = transpiler.clone()
        run.set_parameter(
            "{http://dmaus.name/ns/2023/schxslt}phase", self.processor.make_string_value(phase)
        )
        try:
            stylesheet = _run(run, self.processor, etree.tostring(root, encoding="unicode"))
            compiler = self.processor.new_xslt30_processor()
            self.executable = compiler.compile_stylesheet(stylesheet_text=stylesheet)
        except error as exc:
            said = _said(exc, run)
            raise XmlRefused(f"the schematron schema does not compile: {said}") from None
        self.validation_report: Any = None

    def validate(self, tree: Any) -> bool:
        """Whether no assertion failed; the file is given to Saxon as lxml parsed it
        (its DOCTYPE dropped: nothing of it is loaded)."""
        from lxml import etree

        try:
            report = _run(self.executable, self.processor, _serialized(tree))
        except _saxon_module().PySaxonApiError as exc:
            said = _said(exc, self.executable)
            raise XmlRefused(f"the schematron schema failed on the file: {said}") from None
        self.validation_report = etree.fromstring(report.encode(), safe_parser())
        # Every svrl:active-pattern comes first here, not before its rules as lxml's:
        # a fired rule names its pattern (`pattern`, empty for one without an id).
        for rule in self.validation_report.iter(f"{SVRL}fired-rule"):
            rule.set("pattern", rule.get("pattern") or "")
        return self.validation_report.find(f"{SVRL}failed-assert") is None


def _serialized(tree: Any) -> str:
    """The document's root element with the comments and processing instructions beside
    it, as text: what the rules see, without the DOCTYPE."""
    from lxml import etree

    root = tree.getroot()
    nodes = [*reversed(list(root.itersiblings(preceding=True))), root, *root.itersiblings()]
    return "\n".join(etree.tostring(node, encoding="unicode", with_tail=False) for node in nodes)
