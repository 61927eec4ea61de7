#!/usr/bin/env bash
# `cond && pass ... || fail ...` is safe here (pass/fail always succeed);
# cleanup is reached from the EXIT trap.
# shellcheck disable=SC2015,SC2317
# End-to-end test of scripts/kafka: a fresh broker on a free port with a
# temporary data dir; metadata, topic creation, produce/consume with kcat, a
# 8 MiB record, data surviving stop/start, idempotent start/stop, status exit
# codes, --fresh. Always stops its broker. Exit 0 only if every check passes.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kafka="$repo/scripts/kafka"
command -v kcat >/dev/null || { echo "FAIL: kcat not found (run scripts/setup)"; exit 1; }

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
abort() { fail "$*"; exit 1; }
indent() { local l; while IFS= read -r l; do echo "  $l"; done <<<"$1"; }

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A port P where P (clients) and P+1000 (controller) are both free.
pick_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((21000 + RANDOM % 9000))
    if ! tcp_open "$p" && ! tcp_open $((p + 1000)); then echo "$p"; return 0; fi
  done
  return 1
}

port="$(pick_port)" || abort "no free port found"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ovoflow-kafka-test.XXXXXX")" || abort "mktemp failed"
data="$tmp/kafka"
args=(--port "$port" --data-dir "$data")
bs="127.0.0.1:$port"
echo "kafka_test: broker on $bs, data in $data"

cleanup() {
  local rc=$?
  "$kafka" stop "${args[@]}" >/dev/null 2>&1
  if [[ $rc -ne 0 || $failures -ne 0 ]]; then
    echo "---- last lines of $data/logs/server.log"
    tail -n 30 "$data/logs/server.log" 2>/dev/null
    echo "kafka_test: FAILED ($failures failure(s)); data kept in $tmp"
    exit 1
  fi
  rm -rf "$tmp"
  echo "kafka_test: all checks passed"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 1. fresh start
if out="$("$kafka" start "${args[@]}" --fresh --partitions 3 2>&1)"; then
  indent "$out"
  [[ "$out" == *"kafka: ready on $bs"* ]] && pass "start prints ready on $bs" || fail "start did not print 'ready on $bs'"
else
  indent "$out"
  abort "start failed"
fi
[[ -s "$data/kafka.pid" ]] && pass "pid file written" || fail "no pid file"

"$kafka" status "${args[@]}" >/dev/null; rc=$?
[[ $rc -eq 0 ]] && pass "status exits 0 while running" || fail "status exit $rc while running (want 0)"

out="$("$kafka" start "${args[@]}" 2>&1)"; rc=$?
[[ $rc -eq 0 && "$out" == *"already running"* ]] && pass "second start: already running, exit 0" \
  || fail "second start: exit $rc, '$out'"

# 2. metadata
meta="$(kcat -L -b "$bs" -m 10 2>&1)"
[[ "$meta" == *"broker 1 at $bs"* ]] && pass "kcat -L lists broker 1 at $bs" || abort "kcat -L: $meta"

# 3. topics: explicit (TopicCommand, 1 partition, so order is total) and auto-created
topic=ovoflow.kafka-test
if "$kafka" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" \
     --create --topic "$topic" --partitions 1 --replication-factor 1 >/dev/null; then
  pass "TopicCommand created $topic"
else
  abort "TopicCommand --create failed"
fi
echo auto | kcat -P -b "$bs" -t auto.created 2>/dev/null
n="$(kcat -L -b "$bs" -t auto.created -m 10 2>/dev/null | grep -c '^    partition ')"
[[ "$n" == 3 ]] && pass "auto-created topic has --partitions 3" || fail "auto-created topic has $n partitions (want 3)"

# 4. produce 3, consume 3
want=$'egg-1\negg-2\negg-3'
if printf '%s\n' "$want" | kcat -P -b "$bs" -t "$topic" -X acks=all; then
  pass "produced 3 messages"
else
  fail "kcat produce failed"
fi
consume() { kcat -C -b "$bs" -t "$topic" -o beginning -e -q -f '%s\n' -m 20 2>/dev/null; }
got="$(consume)"
[[ "$got" == "$want" ]] && pass "consumed the 3 messages back in order" || fail "consumed '$got' (want '$want')"

# 5. a record of 8 MiB (the broker allows 16 MiB)
big=$((8 * 1024 * 1024))
head -c "$big" /dev/zero | tr '\0' 'x' | { cat; echo; } |
  kcat -P -b "$bs" -t big -X message.max.bytes=20000000 2>/dev/null
size="$(kcat -C -b "$bs" -t big -o beginning -e -q -f '%S\n' -m 20 2>/dev/null)"
[[ "$size" == "$big" ]] && pass "8 MiB record produced and consumed" || fail "8 MiB record: consumed size '$size'"

# 6. stop, status, idempotent stop
"$kafka" stop "${args[@]}" >/dev/null && pass "stop" || fail "stop exited non-zero"
[[ ! -e "$data/kafka.pid" ]] && pass "pid file removed" || fail "pid file still there"
tcp_open "$port" && fail "port $port still open after stop" || pass "port $port closed after stop"
"$kafka" status "${args[@]}" >/dev/null; rc=$?
[[ $rc -eq 3 ]] && pass "status exits 3 when stopped" || fail "status exit $rc when stopped (want 3)"
"$kafka" stop "${args[@]}" >/dev/null; rc=$?
[[ $rc -eq 0 ]] && pass "stop when stopped exits 0" || fail "second stop exit $rc"

# 7. restart on the same data: messages survive
"$kafka" start "${args[@]}" >/dev/null || abort "restart failed"
pass "restart on the same data dir"
got="$(consume)"
[[ "$got" == "$want" ]] && pass "the 3 messages survived stop/start" || fail "after restart consumed '$got' (want '$want')"

# 8. --fresh wipes the data
"$kafka" start "${args[@]}" --fresh >/dev/null || abort "start --fresh failed"
meta="$(kcat -L -b "$bs" -m 10 2>&1)"
[[ "$meta" != *"\"$topic\""* && "$meta" == *"broker 1 at $bs"* ]] && pass "--fresh restarted with no topics" \
  || fail "--fresh: topic $topic still exists"

"$kafka" stop "${args[@]}" >/dev/null && pass "final stop" || fail "final stop"
exit $((failures > 0))
