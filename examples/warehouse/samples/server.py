"""The example warehouse's sample sources, over HTTP (the `warehouse-samples` Service).

    GET /name_gender.csv                 the course notes' name,gender CSV (name_gender.csv beside
                                         this file)
    GET /name_gender_duplicate_key.csv   the same with one name twice, for a failing check
    GET /events/YYYY-MM-DD.csv           id,occurred_at,kind,amount: that day's events, the same
                                         bytes for the same date on every call
    GET /healthz                         ok

Standard library only; it runs in kubedag/python-task with this folder mounted from a
ConfigMap (examples/warehouse/samples.yaml). `python3 server.py` serves on $PORT (8080).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME_GENDER = HERE / "name_gender.csv"
EVENT_KINDS = ("view", "view", "view", "click", "click", "purchase", "refund")
_EVENTS_PATH = re.compile(r"^/events/(\d{4}-\d{2}-\d{2})\.csv$")


def events(day: dt.date) -> str:
    """A day's events: 20 to 40 rows, ids unique across days, times inside the day (UTC)."""
    rng = random.Random(f"events-{day.isoformat()}")
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    seconds = sorted(rng.randrange(86_400) for _ in range(rng.randint(20, 40)))
    lines = ["id,occurred_at,kind,amount"]
    for number, second in enumerate(seconds, start=1):
        kind = rng.choice(EVENT_KINDS)
        amount = rng.randint(100, 20_000) / 100 if kind in ("purchase", "refund") else 0
        at = (midnight + dt.timedelta(seconds=second)).isoformat()
        lines.append(f"{day:%Y%m%d}{number:04d},{at},{kind},{amount:.2f}")
    return "\n".join(lines) + "\n"


def duplicate_key(csv: str) -> str:
    """The CSV with its first name again under another gender: a duplicated primary key."""
    header, first, *rest = csv.splitlines()
    name, gender = first.split(",")
    other = "F" if gender != "F" else "M"
    return "\n".join([header, first, *rest, f"{name},{other}"]) + "\n"


def body_for(path: str) -> str | None:
    if path == "/healthz":
        return "ok\n"
    if path == "/name_gender.csv":
        return NAME_GENDER.read_text()
    if path == "/name_gender_duplicate_key.csv":
        return duplicate_key(NAME_GENDER.read_text())
    match = _EVENTS_PATH.match(path)
    if match:
        try:
            return events(dt.date.fromisoformat(match.group(1)))
        except ValueError:
            return None
    return None


class Handler(BaseHTTPRequestHandler):
    def _answer(self, send_body: bool) -> None:
        body = body_for(self.path.split("?", 1)[0])
        data = (body if body is not None else f"not found: {self.path}\n").encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/csv; charset=utf-8" if body else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if send_body:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    print(f"warehouse-samples: serving on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
