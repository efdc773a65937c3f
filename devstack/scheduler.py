"""A local stand-in for Cloud Scheduler: ticks the schedules of infra/units.json.

Each tick POSTs the schedule's body to its function with an OIDC token for the
scheduler's service account (audience = the function's URL), as Cloud Scheduler's HTTP
targets do. `--every` replaces the cron schedules with a fixed interval, to watch purges
happen without waiting an hour.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests
from croniter import croniter

from devstack import units
from devstack.metadata_server import fetch_token

log = logging.getLogger("scheduler")


def schedules() -> list[dict[str, Any]]:
    return list(units.load().schedules)


class Scheduler:
    def __init__(
        self, metadata_url: str, account: str, urls: dict[str, str], every: float | None = None
    ) -> None:
        self.metadata_url = metadata_url.rstrip("/")
        self.account = account
        self.urls = urls
        self.every = every
        self.session = requests.Session()

    def _token(self, audience: str) -> str:
        return fetch_token(self.metadata_url, self.account, audience, self.session)

    def tick(self, schedule: dict[str, Any]) -> None:
        url = self.urls[schedule["function"]]
        try:
            response = self.session.post(
                url,
                json=schedule.get("body") or {},
                timeout=600,
                headers={
                    "Authorization": f"Bearer {self._token(url)}",
                    "User-Agent": "Google-Cloud-Scheduler",
                },
            )
            log.info("%s -> %s %s", schedule["name"], response.status_code, response.text[:300])
        except requests.RequestException as exc:
            log.warning("%s could not be delivered: %s", schedule["name"], exc)

    def next_time(self, schedule: dict[str, Any], after: datetime) -> datetime:
        if self.every:
            return datetime.fromtimestamp(after.timestamp() + self.every, UTC)
        nxt: datetime = croniter(schedule["cron"], after).get_next(datetime)
        return nxt

    def run_forever(self) -> None:
        now = datetime.now(UTC)
        due = {s["name"]: (s, self.next_time(s, now)) for s in schedules()}
        while True:
            name, (schedule, when) = min(due.items(), key=lambda item: item[1][1])
            time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))
            threading.Thread(target=self.tick, args=(schedule,), daemon=True).start()
            due[name] = (schedule, self.next_time(schedule, when))


def main() -> None:
    from shared.logs import configure

    configure()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--url", action="append", default=[], help="FUNCTION=URL")
    parser.add_argument("--every", type=float, default=None)
    args = parser.parse_args()
    urls = dict(item.split("=", 1) for item in args.url)
    Scheduler(args.metadata_url, args.account, urls, args.every).run_forever()


if __name__ == "__main__":
    main()
