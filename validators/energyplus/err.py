"""eplusout.err as findings: `** Severe **` and `**  Fatal  **` are ERROR, `** Warning **`
WARNING; continuation lines (`**   ~~~   **`) are folded into their message; a repeated
message is one finding with its count. The input processor's own messages carry where
they point: `Line: 4 Index: 12` (the IDF's line and column) or
`<root>[Zone][Room][x_origin]` (a JSON Pointer into the model); other messages name
the object they are about when they quote one (`Zone="Room"`). The engine's own count of
warnings and severe errors (its last line) gives the metrics `warnings` and
`severe_errors`."""

from __future__ import annotations

import re
from collections import Counter

from shared.contract.envelopes import OutputFinding
from shared.contract.severity import Severity

_LEVELS = {"Warning": Severity.WARNING, "Severe": Severity.ERROR, "Fatal": Severity.ERROR}
_LINE = re.compile(r"^\s*\*\*\s*(Warning|Severe|Fatal)\s*\*\*\s?(.*)$")
_MORE = re.compile(r"^\s*\*\*\s*~~~\s*\*\*\s?(.*)$")
_NAMED = re.compile(r'(?:=|named |Name=)"([^"]+)"')
_AT_LINE = re.compile(r"^Line: (\d+) Index: (\d+)")
_AT_POINTER = re.compile(r"^<root>((?:\[[^\]]*\])+)")
# The engine's last line: "EnergyPlus Completed Successfully-- 1 Warning; 0 Severe Errors;"
# or "EnergyPlus Terminated--Fatal Error Detected. 0 Warning; 2 Severe Errors;".
_SUMMARY = re.compile(
    r"EnergyPlus (?:Completed Successfully|Terminated)--.*?(\d+) Warning;\s*(\d+) Severe Error"
)


def finding(
    severity: Severity,
    code: str,
    message: str,
    path: str | None = None,
    line: int | None = None,
    column: int | None = None,
) -> OutputFinding:
    return OutputFinding(
        severity=severity, code=code, message=message[:500], path=path, line=line, column=column
    )


def _messages(text: str) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    for line in text.splitlines():
        head, more = _LINE.match(line), _MORE.match(line)
        if more and messages:
            level, message = messages[-1]
            messages[-1] = (level, f"{message} {more.group(1).strip()}".strip())
        elif head:
            messages.append((head.group(1), head.group(2).strip()))
    return messages


def _where(message: str) -> tuple[str | None, int | None, int | None]:
    """(path, line, column) the message points at."""
    at_line = _AT_LINE.match(message)
    if at_line:
        return None, int(at_line.group(1)), int(at_line.group(2))
    at_pointer = _AT_POINTER.match(message)
    if at_pointer:
        parts = at_pointer.group(1)[1:-1].split("][")
        return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts), None, None
    named = _NAMED.search(message)
    return (named.group(1) if named else None), None, None


def parse_err(text: str) -> list[OutputFinding]:
    findings = []
    for (level, message), count in Counter(_messages(text)).items():
        path, line, column = _where(message)
        suffix = f" (repeated {count} times)" if count > 1 else ""
        findings.append(
            finding(
                _LEVELS[level], f"energyplus.{level.lower()}", message + suffix, path, line, column
            )
        )
    return findings


def counts(text: str) -> dict[str, int]:
    """`warnings` and `severe_errors` as the engine counted them (its summary line, which
    counts a recurring message each time); where it wrote none (it was stopped), the
    messages of the file, each as often as it appears."""
    summary = _SUMMARY.findall(text)
    if summary:
        warnings, severe = summary[-1]
        return {"warnings": int(warnings), "severe_errors": int(severe)}
    levels = [level for level, _ in _messages(text)]
    return {
        "warnings": levels.count("Warning"),
        "severe_errors": levels.count("Severe"),
    }
