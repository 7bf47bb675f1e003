#!/bin/bash
# Starts PostgreSQL on $PGDATA, making the cluster there first if the volume is new: the
# superuser $POSTGRES_USER with the password in $POSTGRES_PASSWORD (scram-sha-256), and the
# database $POSTGRES_DB that it owns. Extra arguments go to `postgres` (`-c name=value`).
set -euo pipefail
: "${POSTGRES_USER:?set POSTGRES_USER (the StatefulSet takes it from its Secret)}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (the StatefulSet takes it from its Secret)}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  echo "warehouse-postgres: new cluster in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    --no-instructions -D "$PGDATA" >/dev/null
  # Any address may connect, with the password: the cluster network is the only way in.
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  # The database is made on a server that listens only on its socket, so no client sees a
  # half-made warehouse; the password stays out of every command line.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
  PGPASSWORD=$POSTGRES_PASSWORD psql -v ON_ERROR_STOP=1 -q --username="$POSTGRES_USER" \
    --dbname=postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  pg_ctl -D "$PGDATA" -m fast -w -s stop
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
