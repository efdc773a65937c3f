"""The contract between Assay and its validators: input.json, output.json and the
callback body. Shared by the functions and the validator runtime so the two cannot drift.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.severity import Severity

INPUT_SCHEMA_VERSION: Final = "assay.input/1"
OUTPUT_SCHEMA_VERSION: Final = "assay.output/1"
CALLBACK_SCHEMA_VERSION: Final = "assay.callback/1"

# What one step's output may carry (decision record 0020). The callback enforces them; a
# validator runtime may apply them itself (it is given this module).
# output.json is read from storage up to this many bytes; a larger one is never parsed.
MAX_OUTPUT_BYTES: Final = 10 * 1024 * 1024
# A step's findings stored one by one; any beyond are counted by severity, exactly.
MAX_STORED_FINDINGS: Final = 20_000
MAX_ARTIFACTS: Final = 100
# Metrics live in the run's own document (1 MiB at most, shared by up to 20 steps).
MAX_METRICS: Final = 200
MAX_METRIC_NAME_CHARS: Final = 128
MAX_METRIC_TEXT_CHARS: Final = 256
# A step's facts, as JSON, live in the same document.
MAX_FACTS_BYTES: Final = 16 * 1024
# A finding's text fields are cut to this when stored; an artifact's name or uri may not
# be longer (a stored document holds 1 MiB at most).
MAX_TEXT_CHARS: Final = 4_096
# The callback POST body is a few hundred bytes; result_uri names an object in a bucket.
MAX_CALLBACK_BODY_BYTES: Final = 16 * 1024
MAX_RESULT_URI_CHARS: Final = 2_048


class Envelope(BaseModel):
    # Reject unknown fields: an envelope from a newer or broken producer must fail loudly.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ValidatorRef(Envelope):
    name: str
    version: str


class InputFile(Envelope):
    name: str
    uri: str
    sha256: str
    size_bytes: int
    content_type: str
    # A V4 signed GET URL for `uri`: the one way a validator job reads it (it holds no
    # storage role). None where nothing is signed (the fast path, tests with no signer).
    url: str | None = None


class InputEnvelope(Envelope):
    schema_version: Literal["assay.input/1"] = INPUT_SCHEMA_VERSION
    run_id: str
    org_id: str
    step_order: int
    step_key: str
    attempt: int
    validator: ValidatorRef
    config: dict[str, Any] = Field(default_factory=dict)
    files: list[InputFile]
    callback_url: str
    callback_id: str
    output_uri: str
    timeout_seconds: int
    # When what the job writes may go (its objects' customTime); None: kept permanently.
    retain_until: datetime | None = None
    # DO_NOT_STORE: findings must say what failed and where, never quote the content.
    redact_values: bool = False
    # The workflow resources the step's config names (copied into the run's bundle).
    resources: list[InputFile] = Field(default_factory=list)
    # Signed create-only PUT URLs for output.json and for each artifact the validator
    # may write, by name; `output_uri` and an artifact's uri stay the objects' names,
    # which the callback and reconcile read as the worker (decision record 0024).
    output_url: str | None = None
    artifact_urls: dict[str, str] = Field(default_factory=dict)


class OutputStatus(StrEnum):
    SUCCESS = "success"
    FAILED_VALIDATION = "failed_validation"
    FAILED_RUNTIME = "failed_runtime"
    CANCELLED = "cancelled"
    # The validator stopped its own work at the step's timeout.
    TIMED_OUT = "timed_out"


class OutputFinding(Envelope):
    severity: Severity
    code: str
    message: str
    path: str | None = None
    line: int | None = None
    column: int | None = None
    # What in the user's rules produced it: a Schematron rule's id, a SHACL source
    # shape, an assertion's index. None for the validator's own checks.
    rule: str | None = None


class OutputArtifact(Envelope):
    name: str
    uri: str
    sha256: str | None = None
    size_bytes: int | None = None


class Timing(Envelope):
    started_at: datetime
    ended_at: datetime
    duration_ms: int


class FindingCounts(Envelope):
    """Exact numbers of findings, by severity."""

    error: int = Field(default=0, ge=0)
    warning: int = Field(default=0, ge=0)
    info: int = Field(default=0, ge=0)

    @property
    def total(self) -> int:
        return self.error + self.warning + self.info


FactScalar = bool | int | float | str | None
FactValue = FactScalar | dict[str, FactScalar]


class OutputEnvelope(Envelope):
    schema_version: Literal["assay.output/1"] = OUTPUT_SCHEMA_VERSION
    run_id: str
    org_id: str
    step_order: int
    attempt: int
    callback_id: str
    status: OutputStatus
    findings: list[OutputFinding] = Field(default_factory=list)
    # None: the validator knows the metric but the input has none (a model with no gas).
    metrics: dict[str, int | float | str | None] = Field(default_factory=dict)
    # What the validator read of the input before checking it (an EnergyPlus model's
    # zone count, its objects by type): assertions see them as `model.*`. Values are
    # JSON scalars or one level of {name: scalar}.
    facts: dict[str, FactValue] = Field(default_factory=dict)
    artifacts: list[OutputArtifact] = Field(default_factory=list)
    timing: Timing
    validator: ValidatorRef
    error: str | None = None
    # Findings the validator found beyond those it lists in `findings` (a runtime that
    # caps its own list, e.g. at MAX_STORED_FINDINGS): exact counts by severity. They
    # count in the step's summary and verdict as listed ones do; none is stored.
    unlisted_findings: FindingCounts | None = None
    # What checked the file inside the validator (jsonschema-rs, lxml, Saxon, pySHACL,
    # fmpy, EnergyPlus) and its version: the run's evidence names it. None: not known.
    engine: ValidatorRef | None = None


# The shapes of Assay's ids, checked before an id names a document (a private function's
# caller is authenticated, but its body is still input). A run's is shared.platform.ids.ID_PATTERN
# written again: the validator images copy this module without shared/platform/ids.py.
RUN_ID = r"^[A-Za-z0-9]{20}$"
CALLBACK_ID = r"^[0-9a-f]{32}$"


class CallbackBody(Envelope):
    schema_version: Literal["assay.callback/1"] = CALLBACK_SCHEMA_VERSION
    run_id: str = Field(pattern=RUN_ID)
    callback_id: str = Field(pattern=CALLBACK_ID)
    status: OutputStatus
    result_uri: str = Field(max_length=MAX_RESULT_URI_CHARS)
