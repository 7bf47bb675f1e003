"""The warehouse connection, read from environment variables that a Secret gives the task.

A connection named NAME is the Secret's keys (`host`, `port`, `dbname`, `user`, `password`,
`options`, `sslmode`) under the prefix `KUBEDAG_CONN_<NAME>_` (upper case, `-` as `_`), as
`envFrom: [{prefix: KUBEDAG_CONN_WAREHOUSE_, secretRef: {name: warehouse}}]` hands them over;
the key part may be in either case. Nothing here prints a password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

from kubedag.toolkit.errors import ToolkitError

PREFIX = "KUBEDAG_CONN_"
KEYS = ("host", "port", "dbname", "user", "password", "options", "sslmode")
_VARIABLE = re.compile(rf"^{PREFIX}([A-Z0-9_]+?)_({'|'.join(KEYS)})$", re.IGNORECASE)


def env_prefix(name: str) -> str:
    """`warehouse` -> `KUBEDAG_CONN_WAREHOUSE_`."""
    return PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"


def connection_names(environ: Mapping[str, str]) -> list[str]:
    """The connections the environment holds (lower case), by their `_HOST` or `_DBNAME`."""
    names = set()
    for variable in environ:
        match = _VARIABLE.match(variable)
        if match and match.group(2).lower() in ("host", "dbname"):
            names.add(match.group(1).lower())
    return sorted(names)


@dataclass(frozen=True)
class Connection:
    name: str
    params: dict[str, str]

    def describe(self) -> str:
        """`user@host:port/dbname`, for logs: never the password."""
        p = self.params
        return (
            f"{p.get('user', '?')}@{p.get('host', 'localhost')}:{p.get('port', '5432')}"
            f"/{p.get('dbname', '?')}"
        )

    def redact(self, text: str) -> str:
        """`text` with the password (if any) blanked out, for messages from the server or
        driver that might quote it."""
        password = self.params.get("password")
        return text.replace(password, "***") if password else text


def read_connection(name: str | None, environ: Mapping[str, str] | None = None) -> Connection:
    """The connection `name`, or the only one in the environment when `name` is None."""
    env = os.environ if environ is None else environ
    if name is None:
        names = connection_names(env)
        if len(names) != 1:
            found = f"several ({', '.join(names)}): choose one with --conn" if names else "none"
            raise ToolkitError(
                f"no connection chosen, and the environment holds {found}; a connection NAME is "
                f"the variables {PREFIX}<NAME>_HOST, _PORT, _DBNAME, _USER, _PASSWORD (a "
                f"Secret's keys through envFrom with prefix {PREFIX}<NAME>_)"
            )
        name = names[0]
    prefix = env_prefix(name)
    params: dict[str, str] = {}
    for key in KEYS:
        value = env.get(prefix + key.upper()) or env.get(prefix + key)
        if value:
            params[key] = value
    if "host" not in params and "dbname" not in params:
        raise ToolkitError(
            f"connection {name!r}: no {prefix}HOST or {prefix}DBNAME in the environment; give "
            f"the task the Secret with envFrom: [{{prefix: {prefix}, secretRef: {{name: "
            f"{name}}}}}] (kubedag connection create {name} --from-url postgresql://...)"
        )
    return Connection(name, params)


@contextmanager
def connect(connection: Connection, application: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection (transactions are explicit), in UTC, closed afterwards."""
    try:
        conn = psycopg.connect(
            make_conninfo(
                **connection.params,
                application_name=f"kubedag-task {application}"[:63],
                connect_timeout=30,
            ),
            autocommit=True,
        )
    except psycopg.Error as error:
        raise ToolkitError(
            f"cannot connect to {connection.describe()} (connection {connection.name!r}): "
            + connection.redact(str(error).strip())
        ) from None
    try:
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn
    finally:
        conn.close()
