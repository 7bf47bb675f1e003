"""``python -m bench.load``: the task toolkit's ``load`` throughput against PostgreSQL's own COPY.

    python -m bench.load                       # 1,000,000 rows, best of 3, a table on stdout
    python -m bench.load --rows 100000 --repeat 1 --json bench/results/load.json

Needs no cluster: a throwaway PostgreSQL (devcluster/postgres.py, Debian's binaries at the
pinned version) on a Unix socket. One CSV of ``--rows`` rows (``id`` primary key, ``day``,
``name``, ``amount``; about 40 MB for a million) is loaded four ways into a table with the same
primary key, each timed as users run it (the toolkit as its own process, connection included):

- ``COPY``: the server reading the file itself (``COPY t FROM '<file>'``) into an empty
  table: the physical limit;
- ``full refresh``: ``kubedag-task load --mode full`` over a table holding the rows already
  (TRUNCATE and COPY in one transaction);
- ``incremental, new day``: ``--mode incremental --interval-column day`` of a day the table
  does not hold yet (it holds the previous day's rows);
- ``incremental, re-run``: the same day again (its rows deleted and inserted anew).

Targets: full refresh at least 0.5x COPY's rows per second, incremental at least 0.3x.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from devcluster.postgres import Postgres

TABLE = "bench.events"
DDL = "id bigint PRIMARY KEY, day date NOT NULL, name text, amount integer"
DAY = "2026-01-02"
TARGETS = {"full refresh": 0.5, "incremental, new day": 0.3, "incremental, re-run": 0.3}


def write_csv(path: Path, rows: int, day: str, first_id: int = 1) -> None:
    with path.open("w") as out:
        out.write("id,day,name,amount\n")
        block = 50_000
        for start in range(first_id, first_id + rows, block):
            stop = min(start + block, first_id + rows)
            out.write(
                "".join(f"{i},{day},name-{i % 9973},{i % 1000}\n" for i in range(start, stop))
            )


def toolkit(postgres: Postgres, *argv: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH")},
        **postgres.env(),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "kubedag.toolkit.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"kubedag-task {' '.join(argv)} failed:\n{completed.stderr}")


def best_of(repeat: int, prepare: Callable[[], None], work: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        prepare()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(postgres: Postgres, workdir: Path, rows: int, repeat: int) -> dict[str, Any]:
    today, yesterday = workdir / "today.csv", workdir / "yesterday.csv"
    write_csv(today, rows, DAY)
    write_csv(yesterday, rows, "2026-01-01", first_id=rows + 1)
    for path in (workdir, today, yesterday):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the server (nobody) reads them
    conn = psycopg.connect(postgres.conninfo(), autocommit=True)

    def reset(*fills: Path) -> None:
        conn.execute(
            f"DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench; "
            f"CREATE TABLE {TABLE} ({DDL})"
        )
        for path in fills:
            conn.execute(f"COPY {TABLE} FROM '{path}' (FORMAT csv, HEADER true)")
        conn.execute(f"VACUUM ANALYZE {TABLE}")

    def server_copy() -> None:
        conn.execute(f"COPY {TABLE} FROM '{today}' (FORMAT csv, HEADER true)")

    load = ["load", "--table", TABLE, "--primary-key", "id", "--source", str(today)]
    incremental = [
        *load,
        "--mode",
        "incremental",
        "--interval-column",
        "day",
        "--data-interval-start",
        DAY,
        "--data-interval-end",
        "2026-01-03",
    ]
    seconds = {
        "COPY": best_of(repeat, reset, server_copy),
        "full refresh": best_of(repeat, lambda: reset(today), lambda: toolkit(postgres, *load)),
        "incremental, new day": best_of(
            repeat, lambda: reset(yesterday), lambda: toolkit(postgres, *incremental)
        ),
        "incremental, re-run": best_of(
            repeat, lambda: reset(yesterday, today), lambda: toolkit(postgres, *incremental)
        ),
    }
    count = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE day = '{DAY}'").fetchone()
    conn.close()
    assert count is not None and count[0] == rows, f"{count} rows of the day loaded, not {rows}"
    copy_rate = rows / seconds["COPY"]
    results = {
        name: {
            "seconds": round(value, 3),
            "rows_per_second": round(rows / value),
            "ratio_to_copy": round(rows / value / copy_rate, 2),
            **({"target": TARGETS[name]} if name in TARGETS else {}),
        }
        for name, value in seconds.items()
    }
    return {"rows": rows, "repeat": repeat, "csv_bytes": today.stat().st_size, "results": results}


def markdown(document: dict[str, Any]) -> str:
    lines = [
        f"load of a {document['rows']:,}-row CSV ({document['csv_bytes'] / 2**20:.0f} MiB), "
        f"best of {document['repeat']}",
        "",
        "| way | seconds | rows/s | x COPY | target |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in document["results"].items():
        target = f">= {r['target']}x" if "target" in r else ""
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {r['rows_per_second']:,} | "
            f"{r['ratio_to_copy']:.2f} | {target} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kubedag-bench-load-") as folder:
        workdir = Path(folder)
        with Postgres(workdir / "postgres") as postgres:
            document = measure(postgres, workdir, args.rows, args.repeat)
    print(markdown(document))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    missed = [n for n, r in document["results"].items() if r["ratio_to_copy"] < r.get("target", 0)]
    if missed:
        print(f"missed targets: {', '.join(missed)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
