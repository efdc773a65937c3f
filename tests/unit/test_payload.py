"""A job streams its inputs from storage to a local file, checking the checksum on the
way, and validators read that file as engines do: never the whole of it in Python's
memory (tracemalloc counts every Python allocation, so this is exact, not timed)."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest

from shared.adapters.storage.local import LocalBlobStore
from shared.contract.envelopes import InputFile
from validators.payload import Payload, stream_to
from validators.xml_schema.validator import check as check_xml

MIB = 1024 * 1024
XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="rows"><xs:complexType><xs:sequence>
    <xs:element name="row" type="xs:int" maxOccurs="unbounded"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"""


def _stored(tmp_path: Path, data: bytes, name: str = "big.bin") -> InputFile:
    uri = (tmp_path / "store" / name).as_uri()
    LocalBlobStore().write_bytes(uri, data)
    return InputFile(
        name=name,
        uri=uri,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        content_type="application/octet-stream",
    )


def test_an_input_is_streamed_to_disk_in_chunks_and_checked(tmp_path: Path) -> None:
    data = bytes(range(256)) * (48 * MIB // 256)
    item = _stored(tmp_path, data)
    folder = tmp_path / "work"
    folder.mkdir()
    tracemalloc.start()
    try:
        payload = stream_to(item, folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert payload.path is not None and payload.size == len(data)
    assert payload.path.read_bytes() == data
    assert peak < 4 * MIB, f"streaming held {peak / MIB:.1f} MiB of a 48 MiB file"


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    item = _stored(tmp_path, b"the real content").model_copy(update={"sha256": "0" * 64})
    folder = tmp_path / "work"
    folder.mkdir()
    with pytest.raises(ValueError, match="checksum does not match"):
        stream_to(item, folder)
    assert list(folder.iterdir()) == []


def test_a_large_xml_file_is_validated_from_disk_without_reading_it_whole(tmp_path: Path) -> None:
    rows = b"".join(b"<row>%d</row>" % i for i in range(1_500_000))
    path = tmp_path / "rows.xml"
    path.write_bytes(b"<rows>" + rows + b"<row>oops</row></rows>")
    tracemalloc.start()
    try:
        findings = check_xml({"schema_type": "xsd", "schema": XSD}, Payload(path=path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (finding,) = findings
    assert (finding.code, finding.path) == (
        "xsd.schemav_cvc_datatype_valid_1_2_1",
        "/rows/row[1500001]",
    )
    # lxml's tree lives outside Python's allocator; what Python held is far below the file.
    assert peak < path.stat().st_size / 4, (
        f"{peak / MIB:.1f} MiB for {path.stat().st_size / MIB:.0f}"
    )


def test_an_entity_declaration_is_found_in_a_mapped_file(tmp_path: Path) -> None:
    path = tmp_path / "laughs.xml"
    path.write_bytes(b"<?xml version='1.0'?>\n\n<!DOCTYPE r [<!ENTITY a 'x'>]><r>&a;</r>")
    (finding,) = check_xml({"schema_type": "xsd", "schema": XSD}, Payload(path=path))
    assert (finding.code, finding.line) == ("xml.refused", 3)


def test_a_payload_is_exactly_one_of_a_file_and_bytes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Payload()
    with pytest.raises(ValueError, match="exactly one"):
        Payload(path=tmp_path, data=b"x")
    placed = Payload(data=b"abc").place(tmp_path / "copy")
    assert placed.read_bytes() == b"abc"
