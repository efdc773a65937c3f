"""A local stand-in for Cloud Storage's object-finalized notifications through Eventarc.

It watches the uploads location — a folder for `file://`, the uploads bucket on the
storage emulator for `gs://` — and delivers each new object generation to the
`on_upload` function as Eventarc does: a binary-mode CloudEvent of type
`google.cloud.storage.object.v1.finalized` whose data is the object resource (numbers as
strings), with an OIDC token for the trigger's identity, retried with backoff until a
2xx. A local file counts as finalized once it has not changed for a moment.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack.metadata_server import fetch_token
from shared.adapters.storage import scheme_of
from shared.adapters.storage.layout import UploadsLayout
from shared.adapters.storage.local import LocalBlobStore, path_of

log = logging.getLogger("upload-notifier")

FINALIZED = "google.cloud.storage.object.v1.finalized"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def object_resource(
    bucket: str,
    name: str,
    generation: int,
    size: int,
    content_type: str,
    metadata: dict[str, str],
    updated: datetime,
) -> dict[str, Any]:
    """Cloud Storage's object resource as Eventarc sends it (int64 fields as strings)."""
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "bucket": bucket,
        "name": name,
        "generation": str(generation),
        "metageneration": "1",
        "size": str(size),
        "contentType": content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        "metadata": metadata,
        "storageClass": "STANDARD",
        "timeCreated": _rfc3339(updated),
        "updated": _rfc3339(updated),
    }


def _is_utf8(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


class UploadNotifier:
    def __init__(
        self,
        uploads_uri: str,
        target_url: str,
        metadata_url: str,
        account: str,
        *,
        settle_seconds: float = 0.3,
        max_attempts: int = 20,
    ) -> None:
        self.layout = UploadsLayout(uploads_uri)
        self.uploads_uri = uploads_uri
        self.target_url = target_url
        self.metadata_url = metadata_url
        self.account = account
        self.settle_seconds = settle_seconds
        self.max_attempts = max_attempts
        self.seen: set[tuple[str, int]] = set()
        self.unnamed: set[str] = set()
        self.session = requests.Session()
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="notify")
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def _local_objects(self) -> Iterator[dict[str, Any]]:
        root = path_of(self.uploads_uri)
        store = LocalBlobStore()
        settled_before = time.time() - self.settle_seconds
        for path in sorted(root.rglob("*")) if root.exists() else ():
            relative = path.relative_to(root)
            # Hidden names are the store's temporaries and metadata sidecars.
            if not path.is_file() or any(part.startswith(".") for part in relative.parts):
                continue
            name = relative.as_posix()
            if not _is_utf8(name):
                # Cloud Storage's names are UTF-8: no finalize event could carry this one.
                if name not in self.unnamed:
                    self.unnamed.add(name)
                    log.warning("%r is not a UTF-8 object name; not delivered", name)
                continue
            try:
                found = store.describe(path)
            except FileNotFoundError:
                continue
            if found.generation / 1e9 > settled_before:
                continue  # still being written, perhaps
            updated = datetime.fromtimestamp(found.generation / 1e9, UTC)
            yield object_resource(
                self.layout.bucket,
                name,
                found.generation,
                found.size,
                found.content_type,
                found.metadata,
                updated,
            )

    def _bucket_objects(self) -> Iterator[dict[str, Any]]:
        from google.cloud.storage import Client

        for blob in Client().list_blobs(self.layout.bucket):
            yield object_resource(
                self.layout.bucket,
                blob.name,
                int(blob.generation),
                int(blob.size or 0),
                blob.content_type or "",
                dict(blob.metadata or {}),
                blob.updated or datetime.now(UTC),
            )

    def scan(self) -> list[dict[str, Any]]:
        """Objects (generations) not delivered before."""
        found = (
            self._local_objects()
            if scheme_of(self.uploads_uri) == "file"
            else self._bucket_objects()
        )
        fresh = []
        with self.lock:
            for data in found:
                key = (data["name"], int(data["generation"]))
                if key not in self.seen:
                    self.seen.add(key)
                    fresh.append(data)
        return fresh

    def deliver(self, data: dict[str, Any]) -> bool:
        event = CloudEvent(
            {
                "type": FINALIZED,
                "source": f"//storage.googleapis.com/projects/_/buckets/{data['bucket']}",
                "subject": f"objects/{data['name']}",
                "id": uuid.uuid4().hex,
                "time": data["updated"],
                "datacontenttype": "application/json",
            },
            data,
        )
        headers, body = to_binary(event)
        backoff = 0.2
        for attempt in range(self.max_attempts):
            try:
                token = fetch_token(self.metadata_url, self.account, self.target_url, self.session)
                answer = self.session.post(
                    self.target_url,
                    data=body,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                    timeout=600,
                )
                if 200 <= answer.status_code < 300:
                    log.info("delivered %s -> %s", data["id"], answer.status_code)
                    return True
                log.warning("%s got %s (attempt %s)", data["id"], answer.status_code, attempt)
            except requests.RequestException as exc:
                log.warning("%s could not be delivered: %s", data["id"], exc)
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
        log.error("gave up on %s after %s attempts", data["id"], self.max_attempts)
        return False

    def run_forever(self, poll_seconds: float = 0.25) -> None:
        """Scans and delivers until `stopped` is set."""
        while not self.stopped.wait(poll_seconds):
            try:
                for data in self.scan():
                    self.pool.submit(self.deliver, data)
            except Exception:  # a scan that fails (storage restarting) is tried again
                log.exception("could not list the uploads location")


def main() -> None:
    from shared.platform.logs import configure

    configure()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", required=True, help="file:///folder or gs://bucket")
    parser.add_argument("--target", required=True, help="the on_upload function's URL")
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--account", required=True, help="the trigger's service account")
    args = parser.parse_args()
    UploadNotifier(args.uploads, args.target, args.metadata_url, args.account).run_forever()


if __name__ == "__main__":
    main()
