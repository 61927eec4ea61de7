#!/usr/bin/env bash
# `cond && pass ... || fail ...` is safe here (pass/fail always succeed);
# cleanup is reached from the EXIT trap.
# shellcheck disable=SC2015,SC2317
# End-to-end test of scripts/pg: a fresh cluster on a free port in a
# temporary data dir; status exit codes, url works with psql, idempotent
# start/stop, the port remembered, data surviving stop/start and a crash
# (--mode immediate), --fresh, refusing foreign directories. Always stops its
# server, also when it gives up after 240 s (CTest's timeout: 300 s).
# Exit 0 only if every check passes.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg="$repo/scripts/pg"
psql_bin=/usr/lib/postgresql/15/bin/psql
[[ -x "$psql_bin" ]] || psql_bin="$(command -v psql)" || { echo "FAIL: psql not found (run scripts/setup)"; exit 1; }

# shellcheck source=lib/test_helpers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/test_helpers.sh"
port="$(free_port)" || abort "no free port found"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ovoflow-pg-test.XXXXXX")" || abort "mktemp failed"
chmod 755 "$tmp"  # run as root, the server user must reach the data dir
data="$tmp/pg"
echo "pg_test: cluster on 127.0.0.1:$port, data in $data"

cleanup() {
  local rc=$?
  stop_watchdog
  "$pg" stop --data-dir "$data" --mode immediate >/dev/null 2>&1
  if [[ $rc -ne 0 || $failures -ne 0 ]]; then
    echo "---- last lines of $data/log/postgres.log"
    tail -n 30 "$data/log/postgres.log" 2>/dev/null
    echo "pg_test: FAILED ($failures failure(s)) (its logs above; temp dir removed)"
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$tmp"
  echo "pg_test: all checks passed"
}
trap cleanup EXIT
trap 'abort "interrupted (a signal, or over the budget)"' INT TERM
start_watchdog 240

sql() { "$psql_bin" -X -q -tA -v ON_ERROR_STOP=1 "$url" -c "$1"; }

# 1. status before anything exists, --help
"$pg" status --data-dir "$data" >/dev/null 2>&1; rc=$?
[[ $rc -eq 3 ]] && pass "status exits 3 before the first start" || fail "status exit $rc before start (want 3)"
"$pg" --help | grep -q '^Usage: scripts/pg start|stop|status|url|psql' && pass "--help prints the usage" \
  || fail "--help does not print the usage"

# 2. fresh start
if out="$("$pg" start --fresh --data-dir "$data" --port "$port" 2>&1)"; then
  indent "$out"
  [[ "$out" == *"pg: ready on 127.0.0.1:$port"* ]] && pass "start prints ready on 127.0.0.1:$port" \
    || fail "start did not print 'ready on 127.0.0.1:$port'"
else
  indent "$out"
  abort "start failed"
fi
"$pg" status --data-dir "$data" >/dev/null; rc=$?
[[ $rc -eq 0 ]] && pass "status exits 0 while running" || fail "status exit $rc while running (want 0)"

# 3. url works with psql; database ovoflow, locale C, UTF8, 127.0.0.1 only
url="$("$pg" url --data-dir "$data")"
[[ "$url" == "postgresql://ovoflow@127.0.0.1:$port/ovoflow" ]] && pass "url is $url" || fail "url printed '$url'"
got="$(sql "SELECT current_database() || ' ' || pg_encoding_to_char(encoding) || ' ' || datcollate FROM pg_database WHERE datname = current_database()")"
[[ "$got" == "ovoflow UTF8 C" ]] && pass "psql on the url: database ovoflow, UTF8, locale C" || fail "psql on the url: '$got'"
got="$(sql "SHOW listen_addresses")"
[[ "$got" == "127.0.0.1" ]] && pass "listens on 127.0.0.1 only" || fail "listen_addresses is '$got'"
got="$(sql "SHOW fsync")"
[[ "$got" == "on" ]] && pass "fsync left on" || fail "fsync is '$got'"
got="$("$pg" psql --data-dir "$data" -- -tA -c 'SELECT 40 + 2' 2>&1)"
[[ "$got" == 42 ]] && pass "scripts/pg psql -- -c runs a query" || fail "scripts/pg psql gave '$got'"

out="$("$pg" start --data-dir "$data" 2>&1)"; rc=$?
[[ $rc -eq 0 && "$out" == *"already running on 127.0.0.1:$port"* ]] && pass "second start: already running, exit 0" \
  || fail "second start: exit $rc, '$out'"
out="$("$pg" start --data-dir "$data" --port $((port + 1)) 2>&1)"; rc=$?
[[ $rc -ne 0 && "$out" == *"runs on port $port"* ]] && pass "start with another --port on a running cluster is refused" \
  || fail "start with another port: exit $rc, '$out'"

sql "CREATE TABLE kept (x INT); INSERT INTO kept VALUES (42)" || fail "creating a table failed"

# 4. stop, status, idempotent stop
"$pg" stop --data-dir "$data" >/dev/null && pass "stop" || fail "stop exited non-zero"
tcp_open "$port" && fail "port $port still open after stop" || pass "port $port closed after stop"
"$pg" status --data-dir "$data" >/dev/null; rc=$?
[[ $rc -eq 3 ]] && pass "status exits 3 when stopped" || fail "status exit $rc when stopped (want 3)"
"$pg" stop --data-dir "$data" >/dev/null; rc=$?
[[ $rc -eq 0 ]] && pass "stop when stopped exits 0" || fail "second stop exit $rc"

# 5. start again without --port: the remembered port, the data kept
"$pg" start --data-dir "$data" >/dev/null || abort "restart failed"
[[ "$("$pg" url --data-dir "$data")" == "$url" ]] && pass "restart reuses the remembered port" \
  || fail "restart url is $("$pg" url --data-dir "$data")"
got="$(sql "SELECT x FROM kept")"
[[ "$got" == 42 ]] && pass "data survived stop/start" || fail "after restart: '$got'"

# 6. a crash (stop --mode immediate): recovery on start, committed data kept
sql "INSERT INTO kept VALUES (43)" || fail "insert failed"
"$pg" stop --data-dir "$data" --mode immediate >/dev/null && pass "stop --mode immediate" || fail "stop --mode immediate"
"$pg" start --data-dir "$data" >/dev/null || abort "start after an immediate stop failed"
got="$(sql "SELECT string_agg(x::text, ',' ORDER BY x) FROM kept")"
[[ "$got" == "42,43" ]] && pass "committed rows survived an immediate stop" || fail "after crash recovery: '$got'"

# 7. --fresh wipes the data
"$pg" start --fresh --data-dir "$data" >/dev/null || abort "start --fresh failed"
got="$(sql "SELECT to_regclass('kept') IS NULL")"
[[ "$got" == t ]] && pass "--fresh started an empty cluster" || fail "--fresh: table kept still exists"

# 8. a directory scripts/pg did not create is refused
foreign="$tmp/foreign"
mkdir -p "$foreign" && echo x >"$foreign/file"
out="$("$pg" start --data-dir "$foreign" 2>&1)"; rc=$?
[[ $rc -ne 0 && "$out" == *"not created by scripts/pg"* ]] && pass "refuses a foreign non-empty directory" \
  || fail "foreign directory: exit $rc, '$out'"

"$pg" stop --data-dir "$data" >/dev/null && pass "final stop" || fail "final stop"
exit $((failures > 0))
