"""The official Firestore emulator (Google Cloud CLI component, runs on Java)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import requests

from devstack.processes import Emulator

MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
INSTALL_HINT = (
    "The Firestore emulator needs Java 17+ and the Google Cloud CLI's emulator component:\n"
    "  install Java:      apt-get install -y openjdk-17-jre-headless\n"
    "  install the CLI:   https://cloud.google.com/sdk/docs/install\n"
    "  add the emulator:  gcloud components install cloud-firestore-emulator\n"
    "                     (or apt-get install google-cloud-cli-firestore-emulator)\n"
    "Or point ASSAY_FIRESTORE_EMULATOR_JAR at cloud-firestore-emulator.jar."
)


def find_jar() -> Path | None:
    explicit = os.environ.get("ASSAY_FIRESTORE_EMULATOR_JAR")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    roots: list[Path] = []
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.append(Path(gcloud).resolve().parent.parent)
    roots += [
        Path("/usr/lib/google-cloud-sdk"),
        Path("/usr/share/google-cloud-sdk"),
        Path.home() / "google-cloud-sdk",
        Path("/opt/google-cloud-sdk"),
    ]
    for root in roots:
        jar = root / "platform" / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
        if jar.is_file():
            return jar
    return None


def missing() -> str | None:
    """Why the emulator cannot start here, or None."""
    if shutil.which("java") is None:
        return "Java was not found on PATH.\n" + INSTALL_HINT
    if find_jar() is None:
        return "The Firestore emulator was not found.\n" + INSTALL_HINT
    return None


class FirestoreEmulator(Emulator):
    def command(self) -> list[str]:
        return [
            *("java", "-Duser.language=en", "-cp", str(find_jar()), MAIN_CLASS, "start"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
        ]

    def start(self, timeout: float = 90.0) -> FirestoreEmulator:
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        self.launch(timeout)
        return self

    def reset(self, project: str) -> None:
        """Deletes every document of `project` (the emulator's own reset endpoint)."""
        url = f"{self.url}/emulator/v1/projects/{project}/databases/(default)/documents"
        requests.delete(url, timeout=30).raise_for_status()
