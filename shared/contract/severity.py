"""How bad a finding is: the one scale validators, assertions and the API share."""

from enum import StrEnum


class Severity(StrEnum):
    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"
