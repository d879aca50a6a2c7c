#!/bin/sh
# Passes the reader password from the environment into the init SQL (never written into a file).
set -e
psql -v ON_ERROR_STOP=1 -v reader_password="$FINOPS_READER_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f /docker-entrypoint-initdb.d/postgres-init.sql.in
