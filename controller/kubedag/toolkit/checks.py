"""`kubedag-task check`: data-quality checks on a table (the course notes' "unit tests for
data"), each a query whose result passes or fails, reported readably and as outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from kubedag.toolkit.context import RunInterval
from kubedag.toolkit.errors import ToolkitError
from kubedag.toolkit.tables import column_list, count_rows, identifier, table_info

EXAMPLES = 5


@dataclass(frozen=True)
class CheckRequest:
    table: str
    min_rows: int | None = None
    expect_rows: int | None = None
    expect_rows_from: str | None = None
    unique: list[list[str]] = field(default_factory=list)
    no_duplicate_rows: bool = False
    not_null: list[str] = field(default_factory=list)
    fresh_column: str | None = None
    interval_column: str | None = None
    assertions: list[tuple[str, str]] = field(default_factory=list)  # (name, rendered SQL)


@dataclass
class CheckResult:
    name: str
    ok: bool
    observed: Any
    expected: str
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        mark = "PASS" if self.ok else "FAIL"
        text = f"  {mark}  {self.name}: {self.observed} (expected {self.expected})"
        if self.details:
            text += "\n" + "\n".join(f"          {d}" for d in self.details)
        return text


class _Checker:
    def __init__(
        self, conn: psycopg.Connection, request: CheckRequest, interval: RunInterval | None
    ) -> None:
        self.conn = conn
        self.request = request
        self.interval = interval
        self.table = identifier(request.table)
        self.params: dict[str, Any] = {}
        self.scope: sql.Composable = sql.SQL("true")
        if request.interval_column:
            if interval is None:
                raise ToolkitError("--interval-column needs the run's data interval")
            self.params = {"start": interval.start, "end": interval.end}
            self.scope = sql.SQL("{c} >= %(start)s AND {c} < %(end)s").format(
                c=sql.Identifier(request.interval_column)
            )

    def one(self, query: sql.Composed) -> tuple[Any, ...]:
        row = self.conn.execute(query, self.params or None).fetchone()
        assert row is not None
        return tuple(row)

    def count(self) -> int:
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self.table, self.scope)
        return int(self.one(query)[0])

    def unique(self, columns: list[str]) -> CheckResult:
        groups = sql.SQL(
            "SELECT {cols}, count(*) AS n FROM {t} WHERE {w} GROUP BY {cols} HAVING count(*) > 1"
        ).format(cols=column_list(columns), t=self.table, w=self.scope)
        total = int(self.one(sql.SQL("SELECT count(*) FROM ({}) d").format(groups))[0])
        examples = self.conn.execute(
            sql.SQL("{} ORDER BY n DESC, {} LIMIT {}").format(
                groups, column_list(columns), sql.Literal(EXAMPLES)
            ),
            self.params or None,
        ).fetchall()
        details = [
            ", ".join(f"{c}={v!r}" for c, v in zip(columns, row[:-1], strict=True))
            + f" ({row[-1]} rows)"
            for row in examples
        ]
        name = f"unique({', '.join(columns)})"
        return CheckResult(name, total == 0, f"{total} duplicated keys", "0", details)

    def duplicate_rows(self) -> CheckResult:
        groups = sql.SQL(
            "SELECT r, count(*) AS n FROM (SELECT t::text AS r FROM {} t WHERE {}) x "
            "GROUP BY r HAVING count(*) > 1"
        ).format(self.table, self.scope)
        total = int(self.one(sql.SQL("SELECT count(*) FROM ({}) d").format(groups))[0])
        examples = self.conn.execute(
            sql.SQL("{} ORDER BY n DESC, r LIMIT {}").format(groups, sql.Literal(EXAMPLES)),
            self.params or None,
        ).fetchall()
        details = [f"{row[0]} ({row[1]} times)" for row in examples]
        return CheckResult("no duplicate rows", total == 0, f"{total} repeated rows", "0", details)

    def not_null(self, columns: list[str]) -> list[CheckResult]:
        counts = sql.SQL(", ").join(
            sql.SQL("count(*) FILTER (WHERE {} IS NULL)").format(sql.Identifier(c)) for c in columns
        )
        found = self.one(
            sql.SQL("SELECT {} FROM {} WHERE {}").format(counts, self.table, self.scope)
        )
        return [
            CheckResult(f"not null({c})", int(n) == 0, f"{n} nulls", "0")
            for c, n in zip(columns, found, strict=True)
        ]

    def fresh(self, column: str) -> CheckResult:
        """At least one row whose `column` lies in the run's interval: the data arrived."""
        if self.interval is None:
            raise ToolkitError("--fresh-column needs the run's data interval")
        row = self.conn.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE {c} >= %(start)s AND {c} < %(end)s), "
                "max({c})::text FROM {t}"
            ).format(c=sql.Identifier(column), t=self.table),
            {"start": self.interval.start, "end": self.interval.end},
        ).fetchone()
        assert row is not None
        rows, newest = row
        return CheckResult(
            f"fresh({column})",
            int(rows) > 0,
            f"{rows} rows in the interval, newest {newest}",
            f">= 1 row in {self.interval.describe()}",
        )

    def assertion(self, name: str, query: str) -> CheckResult:
        """Passes when the query returns true, or returns no rows (no offending rows)."""
        cursor = self.conn.execute(query.encode())
        rows = cursor.fetchmany(EXAMPLES) if cursor.description else []
        if not rows:
            return CheckResult(name, True, "no rows", "true or no rows")
        if len(rows) == 1 and len(rows[0]) == 1 and isinstance(rows[0][0], bool):
            return CheckResult(name, rows[0][0], rows[0][0], "true")
        return CheckResult(
            name,
            False,
            f"{len(rows)}{'+' if len(rows) == EXAMPLES else ''} rows",
            "true or no rows",
            [repr(tuple(r)) for r in rows],
        )


def run_checks(
    conn: psycopg.Connection, request: CheckRequest, interval: RunInterval | None
) -> list[CheckResult]:
    """Every requested check, in one read-only snapshot of the database."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        return _run(conn, request, interval)
    finally:
        conn.execute("ROLLBACK")


def _run(
    conn: psycopg.Connection, request: CheckRequest, interval: RunInterval | None
) -> list[CheckResult]:
    info = table_info(conn, request.table)
    if info is None:
        return [CheckResult(f"table {request.table} exists", False, "missing", "a table")]
    for column in [
        *request.not_null,
        *(c for group in request.unique for c in group),
        *filter(None, [request.fresh_column, request.interval_column]),
    ]:
        if column not in info.columns:
            raise ToolkitError(
                f"{request.table} has no column {column!r} (its columns: {', '.join(info.columns)})"
            )
    checker = _Checker(conn, request, interval)
    results: list[CheckResult] = []
    if (
        request.min_rows is not None
        or request.expect_rows is not None
        or (request.expect_rows_from)
    ):
        rows = checker.count()
        if request.min_rows is not None:
            results.append(
                CheckResult("row count", rows >= request.min_rows, rows, f">= {request.min_rows}")
            )
        if request.expect_rows is not None:
            results.append(
                CheckResult(
                    "rows in = rows out",
                    rows == request.expect_rows,
                    rows,
                    f"{request.expect_rows} (the input's)",
                )
            )
        if request.expect_rows_from:
            source = count_rows(conn, request.expect_rows_from)
            results.append(
                CheckResult(
                    f"rows = rows of {request.expect_rows_from}", rows == source, rows, f"{source}"
                )
            )
    results += [checker.unique(columns) for columns in request.unique]
    if request.no_duplicate_rows:
        results.append(checker.duplicate_rows())
    if request.not_null:
        results += checker.not_null(request.not_null)
    if request.fresh_column:
        results.append(checker.fresh(request.fresh_column))
    results += [checker.assertion(name, query) for name, query in request.assertions]
    return results


def report(table: str, results: list[CheckResult], interval: RunInterval | None) -> str:
    failed = [r for r in results if not r.ok]
    scope = f" over {interval.describe()}" if interval else ""
    head = (
        f"check {table}{scope}: {len(failed)} of {len(results)} checks failed"
        if failed
        else f"check {table}{scope}: all {len(results)} checks passed"
    )
    return "\n".join([head, *(r.line() for r in results)])


def outputs(table: str, results: list[CheckResult]) -> dict[str, Any]:
    return {
        "table": table,
        "passed": all(r.ok for r in results),
        "failed": [r.name for r in results if not r.ok],
        "checks": {
            r.name: {"ok": r.ok, "observed": str(r.observed), "details": r.details[:3]}
            for r in results
        },
    }
