#!/usr/bin/env bash
# Runs the TAP tests of the pg_background server extension (extension-c/t/*.pl) with prove.
#
# Each test file starts its own throwaway PostgreSQL 15 cluster through
# PostgreSQL::Test::Cluster, so this needs only the installed PG15 binaries and the
# extension installed into that tree (node test/run-all.mjs does both).
#
# initdb refuses to run as root: as root the tests are copied into a temporary directory
# owned by `postgres` and prove runs there through runuser; the directory is removed
# afterwards (its logs are copied to extension-c/tmp_check/ first, for post-mortems).
# As an ordinary user prove runs in place.
#
# Extra arguments go to prove, e.g.  extension-c/t/run.sh t/003_pid_reuse.pl
#
# PGBG_PGBIN names another PostgreSQL 15 bin directory to start the clusters from, e.g. a
# private relocatable copy the extension was installed into with make install DESTDIR=...
# (the TAP modules and pg_regress still come from the system's PGXS).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
extdir="$(dirname "$here")"
pgver=15
pgbin="${PGBG_PGBIN:-/usr/lib/postgresql/${pgver}/bin}"
pgxs="/usr/lib/postgresql/${pgver}/lib/pgxs"
perllib="${pgxs}/src/test/perl"
pg_regress="${pgxs}/src/test/regress/pg_regress"

for need in "$pgbin/initdb" "$perllib/PostgreSQL/Test/Cluster.pm" "$pg_regress"; do
	if [ ! -e "$need" ]; then
		echo "run.sh: missing $need (apt-get install -y postgresql-server-dev-${pgver} libipc-run-perl)" >&2
		exit 1
	fi
done
if [ ! -e "$(${pgbin}/pg_config --pkglibdir)/pg_background.so" ]; then
	echo "run.sh: pg_background is not installed into ${pgbin%/bin}; run 'make -C extension-c install' first" >&2
	exit 1
fi

# The clusters of the tests are private; nothing from the caller's PG* environment
# (run-all.mjs points it at its own cluster) may leak into them.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGDATA

# A hung test fails after this many seconds instead of blocking the suite (psql sessions
# and poll_query_until use it); generous because the machine may be busy.
: "${PG_TEST_TIMEOUT_DEFAULT:=90}"

# test files are named relative to the directory prove runs in (t/NAME.pl)
tests=()
for arg in "$@"; do
	case "$arg" in
	*.pl) tests+=("t/$(basename "$arg")") ;;
	*) tests+=("$arg") ;;
	esac
done
if [ ${#tests[@]} -eq 0 ] || ! printf '%s\n' "${tests[@]}" | grep -q '\.pl$'; then
	for f in "$here"/*.pl; do
		tests+=("t/$(basename "$f")")
	done
fi

run_prove() {
	# $1 = directory that holds t/ and receives tmp_check/
	local dir="$1"
	shift
	cd "$dir"
	rm -rf tmp_check
	mkdir -p tmp_check
	env PATH="${pgbin}:${PATH}" \
		PERL5LIB="${perllib}:${dir}/t${PERL5LIB:+:$PERL5LIB}" \
		PG_REGRESS="${pg_regress}" \
		TESTDIR="${dir}" \
		PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT}" \
		PG_TEST_EXTRA="${PG_TEST_EXTRA:-}" \
		prove --timer ${PROVE_FLAGS:-} "$@"
}

if [ "$(id -u)" -eq 0 ]; then
	work="$(mktemp -d /tmp/pgbg-tap-XXXXXX)"
	cleanup() {
		# a test killed midway leaves its postmaster running: stop it
		for pid_file in "$work"/tmp_check/t_*_data/pgdata/postmaster.pid; do
			[ -e "$pid_file" ] || continue
			runuser -u postgres -- "${pgbin}/pg_ctl" -D "$(dirname "$pid_file")" -m immediate stop >/dev/null 2>&1 || true
		done
		# keep the logs of the last run next to the sources, then drop the copy
		rm -rf "${extdir}/tmp_check"
		if [ -d "${work}/tmp_check/log" ]; then
			mkdir -p "${extdir}/tmp_check"
			cp -r "${work}/tmp_check/log" "${extdir}/tmp_check/" 2>/dev/null || true
		fi
		rm -rf "$work"
	}
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "${work}/t"
	cp "${here}"/*.pl "${work}/t/"
	cp "${here}"/*.pm "${work}/t/" 2>/dev/null || true
	chown -R postgres:postgres "$work"
	chmod 755 "$work"
	status=0
	# runuser keeps the environment; cd into the copy as postgres and prove there
	runuser -u postgres -- bash -c "$(declare -f run_prove); pgbin='${pgbin}' perllib='${perllib}' pg_regress='${pg_regress}' PG_TEST_TIMEOUT_DEFAULT='${PG_TEST_TIMEOUT_DEFAULT}' run_prove \"\$@\"" \
		run_prove "$work" "${tests[@]}" || status=$?
	exit $status
else
	stop_leftovers() {
		for pid_file in "$extdir"/tmp_check/t_*_data/pgdata/postmaster.pid; do
			[ -e "$pid_file" ] || continue
			"${pgbin}/pg_ctl" -D "$(dirname "$pid_file")" -m immediate stop >/dev/null 2>&1 || true
		done
	}
	trap stop_leftovers EXIT
	trap 'exit 130' INT TERM
	run_prove "$extdir" "${tests[@]}"
fi
