#!/bin/sh
# Writes the auth file from DB_USER / DB_PASSWORD, then runs PgBouncer in the foreground.
set -eu
: "${DB_USER:?DB_USER is required}"
: "${DB_PASSWORD:?DB_PASSWORD is required}"
umask 077
printf '"%s" "%s"\n' "$DB_USER" "$(printf '%s' "$DB_PASSWORD" | sed 's/"/""/g')" > /var/run/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
