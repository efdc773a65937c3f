"""The fmu validator: checks an FMU (FMI 2.0 or 3.0) and simulates it with fmpy."""

VERSION = "1.1.0"
