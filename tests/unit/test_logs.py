"""Cloud Logging's structured fields: severity, the request's trace, the run's labels."""

import json
import logging

import pytest

from shared.platform import logs

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def line(message="hello", **extra):
    record = logging.LogRecord("assay.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(logs.JsonFormatter().format(record))


@pytest.mark.parametrize(
    ("headers", "trace"),
    [
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, TRACE),
        ({"X-Cloud-Trace-Context": f"{TRACE}/123;o=1"}, TRACE),
        ({"X-Cloud-Trace-Context": TRACE.upper()}, TRACE),
        ({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}, None),  # invalid: all zeros
        ({"traceparent": "garbage", "X-Cloud-Trace-Context": "nope"}, None),
        ({}, None),
    ],
)
def test_the_trace_comes_from_traceparent_or_cloud_trace_context(headers, trace):
    assert logs.trace_of(headers) == trace


def test_a_line_carries_severity_trace_and_labels(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme")
    logs.begin({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    logs.bind(run_id="r1", org_id="o1")
    entry = line(submission_id="s1", step=2)
    assert entry["severity"] == "WARNING" and entry["message"] == "hello"
    assert entry[logs.TRACE_FIELD] == f"projects/acme/traces/{TRACE}"
    assert entry[logs.LABELS_FIELD] == {"run_id": "r1", "org_id": "o1", "submission_id": "s1"}
    assert entry["step"] == 2 and "run_id" not in entry


def test_a_new_request_forgets_the_last_ones_trace_and_labels():
    logs.begin({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    logs.bind(run_id="r1")
    logs.begin({})
    entry = line()
    assert logs.TRACE_FIELD not in entry and logs.LABELS_FIELD not in entry
    assert logs.traceparent() is None


def test_an_outgoing_hop_keeps_the_trace_with_a_new_span():
    logs.begin({"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"})
    first, second = logs.traceparent(), logs.traceparent()
    assert logs.trace_of({"traceparent": first}) == TRACE
    assert first != second  # each hop is its own span


def test_a_logged_exception_keeps_its_types_and_frames_but_never_its_text():
    secret = "SSN-123-45-6789"

    def parse() -> None:
        raise KeyError(secret)

    try:
        try:
            parse()
        except KeyError as exc:
            raise ValueError(f"could not read {secret}") from exc
    except ValueError as exc:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), (ValueError, exc, exc.__traceback__)
        )
    line = json.loads(logs.JsonFormatter().format(record))
    assert secret not in json.dumps(line)
    stack = line["stack_trace"]
    assert "KeyError: " in stack and "ValueError: " in stack
    assert "in parse" in stack  # the frames stay: Error Reporting groups by them
