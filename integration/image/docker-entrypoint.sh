#!/bin/bash
# Entrypoint for flowpg's offline PostgreSQL images (see ../build-images.sh).
#
# It keeps the part of the official postgres image's contract that
# testcontainers-go's postgres module relies on:
#   - POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB (and POSTGRES_INITDB_ARGS);
#   - /docker-entrypoint-initdb.d/*.sql and *.sh run once, on an empty PGDATA;
#   - "postgres -c key=value ..." (or just "-c key=value ...") is passed through;
#   - "database system is ready to accept connections" is logged twice on first
#     start: once by the temporary init server, once by the real one.
# Root is dropped with setpriv: gosu is not in Debian and su goes through PAM.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# "docker run IMAGE -c foo=bar" means "postgres -c foo=bar".
if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

if [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != 'trust' ]; then
		echo 'docker-entrypoint: POSTGRES_PASSWORD is required (or POSTGRES_HOST_AUTH_METHOD=trust)' >&2
		exit 1
	fi

	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list on purpose.
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
		--encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
		${POSTGRES_INITDB_ARGS:-} >/dev/null
	printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
	# As in the official image: listen on every address of the container.
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

	# Temporary server on the Unix socket only, so nothing dials it from outside
	# while the init scripts run. Like the official image, it gets the same -c
	# settings as the real server, so a setting that breaks it breaks here too.
	pg_ctl -D "$PGDATA" -o "$(printf '%q ' "${@:2}" -c listen_addresses= -p 5432)" -w start

	export PGUSER="$POSTGRES_USER" PGPASSWORD="${POSTGRES_PASSWORD:-}" PGHOST=/var/run/postgresql
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname postgres \
			--set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
			SQL
	fi

	shopt -s nullglob
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh)
			echo "docker-entrypoint: running $f"
			if [ -x "$f" ]; then "$f"; else . "$f"; fi
			;;
		*.sql)
			echo "docker-entrypoint: running $f"
			psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname "$POSTGRES_DB" -f "$f"
			;;
		*) echo "docker-entrypoint: ignoring $f" ;;
		esac
	done
	shopt -u nullglob
	unset PGPASSWORD

	pg_ctl -D "$PGDATA" -m fast -w stop
	echo 'docker-entrypoint: init done; starting the server'
fi

exec "$@"
