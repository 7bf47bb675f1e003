"""Reading a source in chunks: a file, standard input or HTTP(S), as CSV (header first) or JSON
records (an array or JSON Lines), never whole in memory."""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kubedag.toolkit.errors import ToolkitError

CHUNK_BYTES = 1 << 20
HTTP_TIMEOUT_SECONDS = 60.0


def public_location(source: str) -> str:
    """The source as logs and outputs may show it: a URL without its user and password."""
    parts = urllib.parse.urlsplit(source)
    if parts.scheme in ("http", "https") and (parts.username or parts.password):
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return source


@contextmanager
def open_source(source: str) -> Iterator[IO[bytes]]:
    """`http(s)://...`, `file://...`, `-` (standard input) or a path, opened for reading."""
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme in ("http", "https"):
        request = urllib.request.Request(source, headers={"User-Agent": "kubedag-task"})
        try:
            response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS)
        except urllib.error.HTTPError as error:
            raise ToolkitError(
                f"GET {public_location(source)}: HTTP {error.code} {error.reason}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ToolkitError(f"GET {public_location(source)}: {reason}") from None
        with response:
            yield response
        return
    if source == "-":
        yield sys.stdin.buffer
        return
    path = Path(urllib.parse.urlsplit(source).path if scheme == "file" else source)
    try:
        file = path.open("rb")
    except OSError as error:
        raise ToolkitError(f"cannot read {source}: {error.strerror}") from None
    with file:
        yield file


def chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


@dataclass(frozen=True)
class CsvSource:
    """A CSV stream whose header has been read: its columns, then the rest of the bytes."""

    columns: list[str]
    stream: IO[bytes]


def read_csv_header(stream: IO[bytes], delimiter: str, source: str) -> list[str]:
    line = stream.readline()
    if not line:
        raise ToolkitError(f"{public_location(source)}: empty, not even a CSV header")
    text = line.decode("utf-8-sig" if line.startswith(codecs.BOM_UTF8) else "utf-8")
    columns = next(csv.reader([text], delimiter=delimiter))
    columns = [c.strip() for c in columns]
    if not all(columns) or len(set(columns)) != len(columns):
        raise ToolkitError(
            f"{public_location(source)}: the CSV header {columns} needs distinct, non-empty "
            "column names (or give --columns and --no-header)"
        )
    return columns


def json_records(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    """The objects of a JSON array, or of JSON Lines (one object a line), one at a time."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig")
    decoder = json.JSONDecoder()
    buffer, position, done, in_array = "", 0, False, None

    def more() -> bool:
        nonlocal buffer, position, done
        if done:
            return False
        data = text.read(CHUNK_BYTES)
        if not data:
            done = True
            return False
        buffer = buffer[position:] + data
        position = 0
        return True

    while True:
        while True:
            while position < len(buffer) and (
                buffer[position].isspace() or (in_array and buffer[position] == ",")
            ):
                position += 1
            if position < len(buffer) or not more():
                break
        if position >= len(buffer):
            if in_array:
                raise ToolkitError(f"{public_location(source)}: JSON array not closed")
            return
        head = buffer[position]
        if in_array is None:
            in_array = head == "["
            if in_array:
                position += 1
                continue
        if in_array and head == "]":
            return
        while True:
            try:
                value, end = decoder.raw_decode(buffer, position)
                break
            except json.JSONDecodeError as error:
                if not more():
                    raise ToolkitError(
                        f"{public_location(source)}: not JSON records: {error.msg} "
                        f"near {buffer[position : position + 40]!r}"
                    ) from None
        if not isinstance(value, dict):
            raise ToolkitError(
                f"{public_location(source)}: expected JSON objects (records), found "
                f"{type(value).__name__} {json.dumps(value)[:60]}"
            )
        position = end
        yield value


def json_cell(value: Any) -> str | None:
    """A JSON value as COPY text: null is NULL, objects and arrays stay JSON."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
