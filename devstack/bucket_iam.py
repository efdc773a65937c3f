"""The local stand-in for a bucket's IAM policy (gcp-storage-emulator has none), served
by the signed-URL gate: Cloud Storage's JSON API `GET` and `PUT
/storage/v1/b/{bucket}/iam` at policy version 3, with etags, and the check Cloud Storage
makes of a direct write: may this principal create this object name?

Of IAM conditions it evaluates the one form Assay writes,
`resource.name.startsWith("projects/_/buckets/B/objects/PREFIX")`; a binding with any
other condition grants nothing here (never more than Cloud Storage would). Groups and
domains cannot be resolved locally: only `serviceAccount:` and `user:` members match.
The policy lives as long as the process, like the emulators' data. The policy API takes
anonymous calls, as the scheduler stand-in does: locally, whoever runs `assay admin`
already holds the database.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from werkzeug.wrappers import Request, Response

CREATORS = frozenset(
    {"roles/storage.objectCreator", "roles/storage.objectAdmin", "roles/storage.admin"}
)
_STARTS_WITH = re.compile(r'resource\.name\.startsWith\("([^"\\]*)"\)')
IAM_PATH = re.compile(r"/storage/v1/b/([^/]+)/iam")


def _error(status: int, message: str) -> Response:
    body = {"error": {"code": status, "message": message, "errors": [{"message": message}]}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


class BucketPolicies:
    def __init__(self, buckets: set[str]) -> None:
        self.policies: dict[str, dict[str, Any]] = {b: {"bindings": []} for b in buckets}
        self.etags: dict[str, int] = dict.fromkeys(buckets, 1)
        self.lock = threading.Lock()

    def _view(self, bucket: str) -> dict[str, Any]:
        return {
            "kind": "storage#policy",
            "resourceId": f"projects/_/buckets/{bucket}",
            "version": 3,
            "etag": f"CA{self.etags[bucket]}=",
            "bindings": self.policies[bucket]["bindings"],
        }

    def respond(self, request: Request, bucket: str) -> Response:
        if bucket not in self.policies:
            return _error(404, f"The specified bucket does not exist: {bucket}")
        if request.method == "GET":
            if request.args.get("optionsRequestedPolicyVersion") != "3" and self._conditional(
                bucket
            ):
                return _error(400, "the policy has conditions: request policy version 3")
            with self.lock:
                return Response(json.dumps(self._view(bucket)), mimetype="application/json")
        if request.method != "PUT":
            return _error(405, "GET or PUT")
        try:
            policy = json.loads(request.get_data())
            bindings = [self._binding(b) for b in policy.get("bindings", [])]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return _error(400, f"invalid policy: {exc}")
        with self.lock:
            if policy.get("etag") not in (None, self._view(bucket)["etag"]):
                return _error(412, "the policy's etag does not match: read it again")
            self.policies[bucket] = {"bindings": bindings}
            self.etags[bucket] += 1
            return Response(json.dumps(self._view(bucket)), mimetype="application/json")

    @staticmethod
    def _binding(binding: dict[str, Any]) -> dict[str, Any]:
        role, members = binding["role"], binding["members"]
        if not isinstance(role, str) or not all(isinstance(m, str) for m in members):
            raise ValueError("a binding is a role and a list of members")
        kept: dict[str, Any] = {"role": role, "members": sorted(set(members))}
        if binding.get("condition"):
            kept["condition"] = dict(binding["condition"])
        return kept

    def _conditional(self, bucket: str) -> bool:
        return any("condition" in b for b in self.policies[bucket]["bindings"])

    def may_create(self, bucket: str, principal: str, name: str) -> bool:
        resource = f"projects/_/buckets/{bucket}/objects/{name}"
        with self.lock:
            bindings = list(self.policies.get(bucket, {}).get("bindings", []))
        return any(
            b["role"] in CREATORS
            and principal in b["members"]
            and _holds(b.get("condition"), resource)
            for b in bindings
        )


def _holds(condition: dict[str, Any] | None, resource: str) -> bool:
    if not condition:
        return True
    match = _STARTS_WITH.fullmatch(str(condition.get("expression", "")).strip())
    return match is not None and resource.startswith(match.group(1))
