"""A job for the job runner's tests: sleeps for $SLEEP seconds, exits with $EXIT_CODE."""

import os
import time

time.sleep(float(os.environ.get("SLEEP", "0")))
raise SystemExit(int(os.environ.get("EXIT_CODE", "0")))
