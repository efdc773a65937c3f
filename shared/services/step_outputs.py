"""A step's output.json as Assay takes it, within the caps of shared/contract/envelopes.py
(decision record 0020).

The callback's memory is bounded by the caps, not by what a validator wrote: the object
is read up to MAX_OUTPUT_BYTES + 1 bytes and never parsed when it holds more, and the
findings are validated one at a time, the first MAX_STORED_FINDINGS kept and any beyond
only counted by severity. An output over another cap (artifacts, metrics) is a runtime
failure: the step gets an ERROR finding naming the cap and the numbers. Findings beyond
their cap are no failure: the counts stay exact, so the verdict does too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from shared.adapters.storage import BlobStore
from shared.contract.envelopes import (
    MAX_ARTIFACTS,
    MAX_FACTS_BYTES,
    MAX_METRIC_NAME_CHARS,
    MAX_METRIC_TEXT_CHARS,
    MAX_METRICS,
    MAX_OUTPUT_BYTES,
    MAX_STORED_FINDINGS,
    MAX_TEXT_CHARS,
    FindingCounts,
    OutputEnvelope,
    OutputFinding,
    OutputStatus,
)
from shared.domain.enums import Severity


class OutputCap(StrEnum):
    """The code of the finding that says which cap an output passed."""

    BYTES = "output.cap.bytes"
    ARTIFACTS = "output.cap.artifacts"
    METRICS = "output.cap.metrics"
    METRIC_NAME = "output.cap.metric_name"
    METRIC_TEXT = "output.cap.metric_text"
    FACTS = "output.cap.facts"
    # An INFO note, not a failure: the findings beyond their cap are counted exactly.
    FINDINGS = "output.cap.findings"


@dataclass(frozen=True)
class Unread:
    """An output.json over the byte cap, never parsed: the step fails with `finding`."""

    finding: OutputFinding

    @property
    def error(self) -> str:
        return self.finding.message


def read_head(store: BlobStore, uri: str, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes of the object, and whether it holds more; reads at most cap + 1."""
    parts: list[bytes] = []
    size = 0
    with store.open_read(uri) as reader:
        while size <= cap:
            part = reader.read(cap + 1 - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    return (data[:cap], True) if size > cap else (data, False)


def read_capped(store: BlobStore, uri: str, cap: int = MAX_OUTPUT_BYTES) -> bytes | None:
    """The object's bytes, or None when it holds more than `cap`; reads at most cap + 1."""
    data, more = read_head(store, uri, cap)
    return None if more else data


def too_large(cap: int = MAX_OUTPUT_BYTES) -> Unread:
    message = (
        f"output.json holds more than {cap:,} bytes, the cap ({cap / 2**20:g} MiB), so it "
        f"was not read; a validator lists at most {MAX_STORED_FINDINGS:,} findings and "
        "gives the numbers of the rest in unlisted_findings"
    )
    return Unread(
        OutputFinding(severity=Severity.ERROR, code=OutputCap.BYTES.value, message=message)
    )


def _invalid(why: str) -> str:
    return f"the validator wrote an invalid output.json: {why}"


def _errors(exc: ValidationError, where: tuple[Any, ...] = ()) -> str:
    # Without the input: a rejected value may be huge, and may quote the submission.
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        place = ".".join(str(p) for p in (*where, *error["loc"])) or "(output)"
        parts.append(f"{place}: {error['msg']}")
    return "; ".join(parts)


def parse(data: bytes) -> OutputEnvelope | str:
    """The output with at most MAX_STORED_FINDINGS findings listed and any further ones
    added to `unlisted_findings`, or why it cannot be used. Only the kept findings
    become models; the others are validated one by one, counted and let go."""
    try:
        raw = from_json(data)
    except ValueError as exc:
        return _invalid(str(exc))
    if not isinstance(raw, dict):
        return _invalid("it is not a JSON object")
    listed = raw.pop("findings", [])
    if not isinstance(listed, list):
        return _invalid("findings: Input should be a valid list")
    try:
        head = OutputEnvelope.model_validate(raw)
    except ValidationError as exc:
        return _invalid(_errors(exc))
    taken = _take_findings(listed)
    if isinstance(taken, str):
        return taken
    kept, beyond = taken
    return head.model_copy(
        update={"findings": kept, "unlisted_findings": _plus(head.unlisted_findings, beyond)}
    )


def _take_findings(items: list[Any]) -> tuple[list[OutputFinding], Counter[Severity]] | str:
    kept: list[OutputFinding] = []
    beyond: Counter[Severity] = Counter()
    for index, item in enumerate(items):
        try:
            finding = OutputFinding.model_validate(item)
        except ValidationError as exc:
            return _invalid(_errors(exc, ("findings", index)))
        if len(kept) < MAX_STORED_FINDINGS:
            kept.append(finding)
        else:
            beyond[finding.severity] += 1
    return kept, beyond


def _plus(counts: FindingCounts | None, more: Counter[Severity]) -> FindingCounts | None:
    if not more:
        return counts
    base = counts or FindingCounts()
    return FindingCounts(
        error=base.error + more[Severity.ERROR],
        warning=base.warning + more[Severity.WARNING],
        info=base.info + more[Severity.INFO],
    )


def within_caps(output: OutputEnvelope) -> OutputEnvelope:
    """The output as a step keeps it: findings beyond their cap counted, not listed (an
    output parsed here already is); an output over another cap refused as a runtime
    failure; and a note whenever findings are counted rather than stored."""
    if len(output.findings) > MAX_STORED_FINDINGS:
        extra = Counter(f.severity for f in output.findings[MAX_STORED_FINDINGS:])
        output = output.model_copy(
            update={
                "findings": output.findings[:MAX_STORED_FINDINGS],
                "unlisted_findings": _plus(output.unlisted_findings, extra),
            }
        )
    breach = _breach(output)
    if breach is not None:
        output = _refused(output, *breach)
    return _noted(output)


def _breach(output: OutputEnvelope) -> tuple[OutputCap, str] | None:
    """The first cap the output passes (other than the findings'), and how."""
    artifacts = _artifacts_breach(output)
    if artifacts is not None:
        return artifacts
    metrics = _metrics_breach(output.metrics)
    return metrics if metrics is not None else _facts_breach(output)


def _facts_breach(output: OutputEnvelope) -> tuple[OutputCap, str] | None:
    size = len(output.model_dump_json(include={"facts"}))
    if size > MAX_FACTS_BYTES:
        return OutputCap.FACTS, (
            f"output.json's facts are {size:,} bytes of JSON; a step keeps at most "
            f"{MAX_FACTS_BYTES:,}"
        )
    return None


def _artifacts_breach(output: OutputEnvelope) -> tuple[OutputCap, str] | None:
    count = len(output.artifacts)
    if count > MAX_ARTIFACTS:
        return OutputCap.ARTIFACTS, (
            f"output.json lists {count:,} artifacts; a step keeps at most {MAX_ARTIFACTS:,}"
        )
    longest = max((max(len(a.name), len(a.uri)) for a in output.artifacts), default=0)
    if longest > MAX_TEXT_CHARS:
        return OutputCap.ARTIFACTS, (
            f"an artifact's name or uri is {longest:,} characters long; "
            f"at most {MAX_TEXT_CHARS:,} are kept"
        )
    return None


def _metrics_breach(metrics: dict[str, Any]) -> tuple[OutputCap, str] | None:
    if len(metrics) > MAX_METRICS:
        return OutputCap.METRICS, (
            f"output.json reports {len(metrics):,} metrics; a step keeps at most {MAX_METRICS:,}"
        )
    name = _first_longer(metrics, MAX_METRIC_NAME_CHARS)
    if name is not None:
        return OutputCap.METRIC_NAME, (
            f"the metric named {name[:40]!r}… has a {len(name):,}-character name; "
            f"a metric's name has at most {MAX_METRIC_NAME_CHARS:,}"
        )
    texts = [k for k, v in metrics.items() if isinstance(v, str)]
    text = next((k for k in texts if len(metrics[k]) > MAX_METRIC_TEXT_CHARS), None)
    if text is not None:
        return OutputCap.METRIC_TEXT, (
            f"metric {text!r} is {len(metrics[text]):,} characters of text; "
            f"a metric's text has at most {MAX_METRIC_TEXT_CHARS:,}"
        )
    return None


def _first_longer(names: Iterable[str], limit: int) -> str | None:
    return next((n for n in names if len(n) > limit), None)


def _refused(output: OutputEnvelope, cap: OutputCap, detail: str) -> OutputEnvelope:
    """An output over a cap: a runtime failure (an output that already ended otherwise
    keeps its status), without what passed the cap, with an ERROR finding saying so."""
    fails = output.status in (OutputStatus.SUCCESS, OutputStatus.FAILED_VALIDATION)
    error = detail if fails or not output.error else f"{output.error}; {detail}"
    finding = OutputFinding(severity=Severity.ERROR, code=cap.value, message=detail)
    return output.model_copy(
        update={
            "status": OutputStatus.FAILED_RUNTIME if fails else output.status,
            "error": error,
            "artifacts": [] if cap is OutputCap.ARTIFACTS else output.artifacts,
            "metrics": output.metrics if cap is OutputCap.ARTIFACTS else {},
            "facts": {} if cap is OutputCap.FACTS else output.facts,
            "findings": [*output.findings, finding],
        }
    )


def _noted(output: OutputEnvelope) -> OutputEnvelope:
    counts = output.unlisted_findings
    if counts is None or not counts.total:
        return output
    message = (
        f"{len(output.findings):,} findings are stored and {counts.total:,} more "
        f"({counts.error:,} ERROR, {counts.warning:,} WARNING, {counts.info:,} INFO) are "
        "counted in the summary, not stored one by one: a step stores at most "
        f"{MAX_STORED_FINDINGS:,} of its validator's findings"
    )
    note = OutputFinding(severity=Severity.INFO, code=OutputCap.FINDINGS.value, message=message)
    return output.model_copy(update={"findings": [*output.findings, note]})
