"""`kubedag-task extract`: a source into a staging table (replaced whole, in one transaction) or
into a file (written beside and renamed over the old one)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kubedag.toolkit.errors import ToolkitError
from kubedag.toolkit.feeds import SourceSpec, open_feed
from kubedag.toolkit.sources import chunks, open_source
from kubedag.toolkit.tables import identifier, prepare_creation, table_info


def extract_to_table(conn: psycopg.Connection, spec: SourceSpec, table: str) -> dict[str, Any]:
    """The staging table gets the source's rows and nothing else: made (all columns text) if
    missing, else emptied, then filled, in one transaction, so a re-run leaves the same."""
    with open_feed(spec) as feed, conn.transaction():
        prepare_creation(conn, table)
        info = table_info(conn, table)
        target = identifier(table)
        if info is None:
            definition = sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(c)) for c in feed.columns
            )
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, definition))
        else:
            unknown = [c for c in feed.columns if c not in info.columns]
            if unknown:
                raise ToolkitError(
                    f"{table} has no column {', '.join(unknown)} (its columns: "
                    f"{', '.join(info.columns)}); drop it or map the source with --columns"
                )
            conn.execute(sql.SQL("TRUNCATE {}").format(target))
        rows = feed.copy_into(conn, target)
    outputs: dict[str, Any] = {"rows": rows, "table": table, "source": spec.public}
    if feed.ignored_keys:
        outputs["ignored_keys"] = sorted(feed.ignored_keys)[:20]
    return outputs


def extract_to_file(spec: SourceSpec, path: Path) -> dict[str, Any]:
    """The source's bytes, unchanged, into `path`: written to a file beside it and renamed over
    it, so a reader (or a failed re-run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = lines = 0
    with open_source(spec.location) as stream:
        handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks(stream):
                    out.write(chunk)
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            os.chmod(partial, 0o644)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    return {"bytes": size, "lines": lines, "file": str(path), "source": spec.public}
