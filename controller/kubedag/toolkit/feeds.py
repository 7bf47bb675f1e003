"""A source opened for COPY: its columns known before the first row is sent, so the caller can
make or check the table first, then the rows streamed in chunks (COPY FROM STDIN)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import psycopg
from psycopg import sql
from psycopg.copy import LibpqWriter

from kubedag.toolkit.errors import ToolkitError
from kubedag.toolkit.sources import (
    chunks,
    json_cell,
    json_records,
    open_source,
    public_location,
    read_csv_header,
)
from kubedag.toolkit.tables import column_list

Format = Literal["csv", "json"]


@dataclass(frozen=True)
class SourceSpec:
    location: str
    format: Format = "csv"
    delimiter: str = ","
    header: bool = True
    columns: list[str] | None = None

    @property
    def public(self) -> str:
        return public_location(self.location)


@dataclass
class Feed:
    """An opened source: `columns`, then `copy_into` once."""

    spec: SourceSpec
    columns: list[str]
    stream: IO[bytes] | None = None
    records: Iterator[dict[str, Any]] | None = None
    ignored_keys: set[str] = field(default_factory=set)

    def copy_into(self, conn: psycopg.Connection, table: sql.Composable) -> int:
        """Sends every row into `table` (its `columns`); the number of rows copied."""
        target = sql.SQL("{} ({})").format(table, column_list(self.columns))
        with conn.cursor() as cursor:
            # Written as sent: psycopg's default writer queues chunks in a thread, which holds
            # much of a file in memory whenever the source is faster than the server.
            writer = LibpqWriter(cursor)
            if self.stream is not None:
                statement = sql.SQL("COPY {} FROM STDIN (FORMAT csv, DELIMITER {})").format(
                    target, sql.Literal(self.spec.delimiter)
                )
                with cursor.copy(statement, writer=writer) as copy:
                    for chunk in chunks(self.stream):
                        copy.write(chunk)
            else:
                assert self.records is not None
                statement = sql.SQL("COPY {} FROM STDIN").format(target)
                wanted = set(self.columns)
                with cursor.copy(statement, writer=writer) as copy:
                    for record in self.records:
                        self.ignored_keys.update(record.keys() - wanted)
                        copy.write_row([json_cell(record.get(c)) for c in self.columns])
            return max(cursor.rowcount, 0)


@contextmanager
def open_feed(spec: SourceSpec) -> Iterator[Feed]:
    if len(spec.delimiter) != 1:
        raise ToolkitError(f"--delimiter {spec.delimiter!r}: must be one character")
    with open_source(spec.location) as stream:
        if spec.format == "csv":
            if spec.header:
                header = read_csv_header(stream, spec.delimiter, spec.location)
                columns = spec.columns or header
                if len(columns) != len(header):
                    raise ToolkitError(
                        f"--columns names {len(columns)} columns, the CSV header {len(header)}"
                    )
            elif spec.columns:
                columns = spec.columns
            else:
                raise ToolkitError("a CSV without a header (--no-header) needs --columns")
            yield Feed(spec, columns, stream=stream)
            return
        records = json_records(stream, spec.location)
        first = next(records, None)
        columns = spec.columns or (list(first) if first is not None else [])
        if not columns:
            raise ToolkitError(f"{spec.public}: no JSON records, and no --columns to say what")

        def every() -> Iterator[dict[str, Any]]:
            if first is not None:
                yield first
            yield from records

        yield Feed(spec, columns, records=every())
