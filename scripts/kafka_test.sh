#!/usr/bin/env bash
# `cond && pass ... || fail ...` is safe here (pass/fail always succeed);
# cleanup is reached from the EXIT trap.
# shellcheck disable=SC2015,SC2317
# End-to-end test of scripts/kafka: a fresh broker on a free port with a
# temporary data dir; metadata, topic creation, produce/consume with kcat, a
# transactional producer, a 8 MiB record, data surviving stop/start,
# idempotent start/stop, status exit codes, --fresh. Then a 3-broker cluster
# (--brokers 3) on other free ports: replication factor 3, the partition
# leader killed with SIGKILL while acks=all produce and consume go on, the
# node restarted and back in sync, transactions. Always stops its brokers;
# exit 0 only if every check passes and none of its JVMs is left.
# Data under $OVOFLOW_BINARY_DIR (CTest: the build dir), else $TMPDIR.
# Gives up after 780 s (CTest's timeout: 900 s) and still stops its brokers
# (start_watchdog).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kafka="$repo/scripts/kafka"
command -v kcat >/dev/null || { echo "FAIL: kcat not found (run scripts/setup)"; exit 1; }

# shellcheck source=lib/test_helpers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/test_helpers.sh"
# A port P where P..P+N-1 (clients) and P+1000..P+1000+N-1 (controllers) are
# all free and none is in AVOID (space separated): pick_port N [AVOID].
# 21000..30999+N: clear of 9092/10092 and of the CTest broker's 19092/20092.
pick_port() {
  local p i k ok
  for ((i = 0; i < 200; i++)); do
    p=$((21000 + RANDOM % 9000)); ok=1
    for ((k = 0; k < $1; k++)); do
      if tcp_open $((p + k)) || tcp_open $((p + 1000 + k)) \
         || [[ " ${2:-} " == *" $((p + k)) "* || " ${2:-} " == *" $((p + 1000 + k)) "* ]]; then
        ok=0; break
      fi
    done
    if [[ $ok == 1 ]]; then echo "$p"; return 0; fi
  done
  return 1
}

port="$(pick_port 1)" || abort "no free port found"
cport="$(pick_port 3 "$port $((port + 1000))")" || abort "no free ports for the cluster found"
base="${OVOFLOW_BINARY_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$base" || abort "cannot create $base"
tmp="$(mktemp -d "$base/ovoflow-kafka-test.XXXXXX")" || abort "mktemp failed"
data="$tmp/kafka"
args=(--port "$port" --data-dir "$data")
bs="127.0.0.1:$port"
cdata="$tmp/cluster"
cbs="127.0.0.1:$cport,127.0.0.1:$((cport + 1)),127.0.0.1:$((cport + 2))"
echo "kafka_test: broker on $bs, data in $data"
echo "kafka_test: cluster on $cbs, data in $cdata"
t_start=$SECONDS

# The JVMs of this test's brokers (their command line names a file in $tmp).
our_jvms() { pgrep -f "kafka\.Kafka $tmp/" 2>/dev/null; }

cleanup() {
  local rc=$? f
  stop_watchdog
  "$kafka" stop "${args[@]}" >/dev/null 2>&1
  [[ -d "$cdata" ]] && "$kafka" stop --data-dir "$cdata" >/dev/null 2>&1
  if [[ $rc -ne 0 || $failures -ne 0 ]]; then
    for f in "$data/logs/server.log" "$cdata"/node-*/logs/server.log; do
      [[ -f "$f" ]] || continue
      echo "---- last lines of $f"
      tail -n 30 "$f" 2>/dev/null
    done
    echo "kafka_test: FAILED ($failures failure(s)) after $((SECONDS - t_start)) s (its logs above; temp dir removed)"
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$tmp"
  echo "kafka_test: all checks passed in $((SECONDS - t_start)) s"
}
trap cleanup EXIT
trap 'abort "interrupted (a signal, or over the budget)"' INT TERM
start_watchdog 780

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

# 4b. a transactional producer (needs transaction.state.log.* RF/min ISR 1 here)
txn_check() {  # txn_check BOOTSTRAP TOPIC LABEL
  local out n
  if out="$(timeout 120 "$kafka" tool org.apache.kafka.tools.ProducerPerformance --topic "$2" \
              --num-records 1000 --record-size 100 --throughput -1 \
              --producer-props bootstrap.servers="$1" acks=all \
              --transactional-id "ovoflow-kafka-test-$2" --transaction-duration-ms 100 2>&1)" \
     && [[ "$out" == *"1000 records sent"* ]]; then
    pass "$3: transactional producer sent 1000 records"
  else
    indent "$out"; fail "$3: transactional ProducerPerformance failed"; return
  fi
  n="$(timeout 60 kcat -C -b "$1" -t "$2" -o beginning -e -q -X isolation.level=read_committed \
         -f '.\n' 2>/dev/null | wc -l)"
  [[ "$n" == 1000 ]] && pass "$3: 1000 committed records read back" || fail "$3: read $n committed records (want 1000)"
}
t0=$SECONDS
txn_check "$bs" txn "single broker"
echo "  (transactions: $((SECONDS - t0)) s)"

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
echo "  (single broker part: $((SECONDS - t_start)) s)"

# 9. a 3-broker cluster
t_cluster=$SECONDS
cargs=(--data-dir "$cdata")
t0=$SECONDS
if out="$("$kafka" start --brokers 3 --port "$cport" "${cargs[@]}" --fresh --partitions 3 2>&1)"; then
  indent "$out"
  [[ "$out" == *"kafka: bootstrap $cbs"* ]] && pass "cluster start prints bootstrap $cbs" \
    || fail "cluster start did not print 'kafka: bootstrap $cbs'"
else
  indent "$out"
  abort "cluster start failed"
fi
echo "  (cluster start: $((SECONDS - t0)) s)"
out="$("$kafka" bootstrap "${cargs[@]}")"
[[ "$out" == "$cbs" ]] && pass "bootstrap prints $cbs" || fail "bootstrap printed '$out' (want $cbs)"
"$kafka" status "${cargs[@]}" >/dev/null; rc=$?
[[ $rc -eq 0 ]] && pass "cluster status exits 0 (brokers count from the data dir)" || fail "cluster status exit $rc (want 0)"

brokers_listed() { kcat -L -b "$cbs" -m 10 2>/dev/null | grep -c '^  broker [0-9]* at 127\.0\.0\.1:'; }
n="$(brokers_listed)"
[[ "$n" == 3 ]] && pass "kcat -L lists 3 brokers" || abort "kcat -L lists $n brokers (want 3)"

# One partition, 3 replicas: its leader is the node to kill.
ctopic=ovoflow.kafka-test.rf3
if "$kafka" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$cbs" \
     --create --topic "$ctopic" --partitions 1 --replication-factor 3 >/dev/null; then
  pass "TopicCommand created $ctopic with replication factor 3"
else
  abort "TopicCommand --create (RF 3) failed"
fi
partition_line() { kcat -L -b "$cbs" -t "$ctopic" -m 10 2>/dev/null | grep -m1 'partition 0,'; }
# wait_partition REGEX: until partition 0's metadata line matches (60 s)
wait_partition() {
  local i
  for ((i = 0; i < 120; i++)); do
    pl="$(partition_line)"
    [[ "$pl" =~ $1 ]] && return 0
    sleep 0.5
  done
  return 1
}
all3='leader [1-3], replicas: [1-3],[1-3],[1-3], isrs: [1-3],[1-3],[1-3]$'
wait_partition "$all3" && pass "partition 0 has a leader and 3 replicas in sync ($pl)" \
  || fail "partition 0: '$pl'"
leader="$(sed -n 's/.*leader \([0-9]*\),.*/\1/p' <<<"$pl")"
[[ "$leader" =~ ^[1-3]$ ]] || abort "no leader for $ctopic: '$pl'"

cproduce() { timeout 90 kcat -P -b "$cbs" -t "$ctopic" -X acks=all -X message.timeout.ms=60000; }
cconsume() { timeout 60 kcat -C -b "$cbs" -t "$ctopic" -o beginning -e -q -f '%s\n' 2>/dev/null; }
want1=$'egg-1\negg-2\negg-3'
printf '%s\n' "$want1" | cproduce && pass "produced 3 messages with acks=all" || fail "acks=all produce failed"

# SIGKILL the leader: the two others (min ISR 2) take over.
out="$("$kafka" kill --node "$leader" "${cargs[@]}" 2>&1)"; rc=$?
[[ $rc -eq 0 && "$out" == *"killed node $leader"* ]] && pass "kill --node $leader (the leader)" || fail "kill: exit $rc, '$out'"
tcp_open $((cport + leader - 1)) && fail "node $leader's port still open after kill" || pass "node $leader's port closed after kill"
"$kafka" status --node "$leader" "${cargs[@]}" >/dev/null; rc=$?
[[ $rc -eq 3 ]] && pass "status --node $leader exits 3 after kill" || fail "status --node $leader exit $rc (want 3)"
"$kafka" status "${cargs[@]}" >/dev/null; rc=$?
[[ $rc -eq 1 ]] && pass "cluster status exits 1 with a node down" || fail "cluster status exit $rc with a node down (want 1)"
t0=$SECONDS
want2=$'egg-4\negg-5\negg-6'
printf '%s\n' "$want2" | cproduce && pass "acks=all produce works with node $leader down" \
  || fail "acks=all produce failed with node $leader down"
echo "  (produce after kill: $((SECONDS - t0)) s)"
got="$(cconsume)"
[[ "$got" == "$want1"$'\n'"$want2" ]] && pass "consumed the 6 messages with node $leader down" \
  || fail "with node $leader down consumed '$got'"
wait_partition "leader [1-3]," && [[ "$pl" != *"leader $leader,"* ]] && pass "a new leader took over ($pl)" \
  || fail "leader still $leader: '$pl'"

# Restart it on its data: it rejoins and catches up.
t0=$SECONDS
out="$("$kafka" start --node "$leader" "${cargs[@]}" 2>&1)"; rc=$?
indent "$out"
[[ $rc -eq 0 && "$out" == *"node $leader ready"* ]] && pass "start --node $leader" || fail "start --node $leader: exit $rc"
echo "  (node restart: $((SECONDS - t0)) s)"
n="$(brokers_listed)"
[[ "$n" == 3 ]] && pass "kcat -L lists 3 brokers again" || fail "after restart kcat -L lists $n brokers (want 3)"
wait_partition "$all3" && pass "node $leader back in sync ($pl)" || fail "node $leader not back in the ISR: '$pl'"
"$kafka" status "${cargs[@]}" >/dev/null; rc=$?
[[ $rc -eq 0 ]] && pass "cluster status exits 0 again" || fail "cluster status exit $rc after restart (want 0)"
got="$(cconsume)"
[[ "$got" == "$want1"$'\n'"$want2" ]] && pass "the 6 messages are all there" || fail "after restart consumed '$got'"

t0=$SECONDS
txn_check "$cbs" ctxn "cluster"
echo "  (transactions: $((SECONDS - t0)) s)"

# Stop every node (in parallel); none of this test's JVMs may be left.
t0=$SECONDS
out="$("$kafka" stop "${cargs[@]}" 2>&1)" && pass "cluster stop" || fail "cluster stop exited non-zero"
[[ "$out" == *killing* ]] && indent "$out"   # a node that did not shut down cleanly
echo "  (cluster stop: $((SECONDS - t0)) s)"
"$kafka" status "${cargs[@]}" >/dev/null; rc=$?
[[ $rc -eq 3 ]] && pass "cluster status exits 3 when stopped" || fail "cluster status exit $rc when stopped (want 3)"
for ((i = 0; i < 3; i++)); do
  tcp_open $((cport + i)) && fail "port $((cport + i)) still open after stop"
done
left="$(our_jvms | tr '\n' ' ')"
[[ -z "$left" ]] && pass "no Kafka JVM of this test left" || fail "Kafka JVMs left: $left"
echo "  (cluster part: $((SECONDS - t_cluster)) s)"
exit $((failures > 0))
