#!/usr/bin/env bash
# `cond && pass ... || fail ...` is safe here (pass/fail always succeed);
# cleanup is reached from the EXIT trap.
# shellcheck disable=SC2015,SC2317
# Kafka's authentication and ACLs (scripts/kafka start --secure,
# docs/kafka-security.md), with kcat as each principal, on a fresh secured
# single broker on free ports and a data dir of its own:
#   - a scanner writes its own tenant's scan topic, and nothing else: another
#     tenant's topic is refused (TOPIC_AUTHORIZATION_FAILED), reading any
#     topic is refused, and it does not even see other tenants' topic names;
#   - a wrong password, plaintext, TLS without SASL, and the controller port
#     without the brokers' certificate get nothing;
#   - ovoflow-infer reads every tenant's topic (group ovoflow-infer, regex
#     subscription as the worker will) and commits transactions only as
#     transactional.id ovoflow-infer-*; ovoflow-api writes any tenant's scan
#     topic but reads none; ovoflow-store cannot write scans;
#   - acl-tenant adds a tenant and its scanner; a restart without --secure
#     stays secure; --secure on a plaintext data dir is refused.
# Stops its broker and removes its temp dir, also when a check fails.
# Data under $OVOFLOW_BINARY_DIR (CTest: the build dir), else $TMPDIR.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kafka="$repo/scripts/kafka"
# shellcheck source=../../scripts/lib/test_helpers.sh
source "$repo/scripts/lib/test_helpers.sh"
command -v kcat >/dev/null || abort "kcat is missing: run scripts/setup"
command -v openssl >/dev/null || abort "openssl is missing: run scripts/setup"

port="$(free_port)" || abort "no free port"
cport="$(free_port)" || abort "no free port"
while [[ "$cport" == "$port" ]]; do cport="$(free_port)" || abort "no free port"; done
base="${OVOFLOW_BINARY_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$base" || abort "cannot create $base"
tmp="$(mktemp -d "$base/ovoflow-kafka-acl-test.XXXXXX")" || abort "mktemp failed"
data="$tmp/kafka"
sec="$data/secure"
bs="127.0.0.1:$port"
t_start=$SECONDS

# Stops the broker and removes the temp dir before printing anything, so
# that a closed stdout (SIGPIPE) cannot keep it from doing so.
cleanup() {
  local rc=$? pid f logs=""
  stop_watchdog
  "$kafka" stop --data-dir "$data" >/dev/null 2>&1
  # A broker the script could not stop (its command line names our temp dir).
  for pid in $(pgrep -f "kafka\.Kafka $tmp/" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  if [[ $rc -ne 0 || $failures -ne 0 ]]; then
    for f in "$data/logs/server.log" "$sec/provision.log"; do
      [[ -f "$f" ]] && logs+="---- last lines of $f"$'\n'"$(tail -n 30 "$f")"$'\n'
    done
    rm -rf "$tmp"
    printf '%s' "$logs"
    echo "kafka_acl_test: FAILED ($failures failure(s)) after $((SECONDS - t_start)) s"
    exit 1
  fi
  rm -rf "$tmp"
  echo "kafka_acl_test: all checks passed in $((SECONDS - t_start)) s"
}
trap cleanup EXIT
trap 'abort "interrupted (a signal, or over the budget)"' INT TERM
trap 'exit 1' HUP PIPE
echo "kafka_acl_test: secured broker on $bs (controller $cport), data in $data"
start_watchdog 240

# kcat, bounded in time: its output (stdout and stderr, without its note
# on the config file it reads) and its exit status.
kc() {
  local out rc
  out="$(timeout 40 kcat "$@" 2>&1)"; rc=$?
  grep -v '^% Reading configuration from file' <<<"$out"
  return "$rc"
}
# As principal WHO (its DIR/secure/WHO.conf):
produce() {  # produce WHO TOPIC VALUE
  printf '%s\n' "$3" | kc -P -F "$sec/$1.conf" -b "$bs" -t "$2" -X acks=all -X message.timeout.ms=15000
}
consume() {  # consume WHO TOPIC: the values from the beginning to the end
  kc -C -F "$sec/$1.conf" -b "$bs" -t "$2" -o beginning -e -q -f '%s\n'
}
# librdkafka's text for RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED.
denied='Topic authorization failed'
expect_denied() {  # expect_denied DESCRIPTION RC OUTPUT
  if [[ $2 -ne 0 && "$3" == *"$denied"* ]]; then pass "$1: refused (TOPIC_AUTHORIZATION_FAILED)"
  else fail "$1: exit $2, want TOPIC_AUTHORIZATION_FAILED:"$'\n'"$(indent "$3")"
  fi
}

# 1. a fresh secured broker
t0=$SECONDS
if out="$("$kafka" start --secure --port "$port" --controller-port "$cport" --data-dir "$data" 2>&1)"; then
  indent "$out"
  pass "start --secure: ready, topics and ACLs made in $((SECONDS - t0)) s"
else
  indent "$out"; abort "start --secure failed"
fi
[[ "$out" == *"$sec/<principal>.conf"* ]] && pass "start prints where the client configs are" \
  || fail "start does not name $sec/<principal>.conf"
modes="$(stat -c '%a %n' "$sec"/*.conf "$sec"/*.env "$sec/admin.properties" "$sec"/users/* \
  "$sec/ca.key" "$sec/broker.key" "$sec/broker.p12" "$sec/keystore.password" "$data/server.properties")"
[[ "$(stat -c %a "$sec")" == 700 ]] && ! grep -qv '^600 ' <<<"$modes" \
  && pass "secrets and client configs are mode 600 in a mode 700 dir" || fail "modes:"$'\n'"$(indent "$modes")"
conf="$(cat "$sec/scanner-a1.conf" 2>/dev/null)"
for line in security.protocol=sasl_ssl sasl.mechanisms=SCRAM-SHA-512 sasl.username=scanner-a1 \
            "ssl.ca.location=$sec/ca.pem"; do
  grep -qxF "$line" <<<"$conf" || fail "scanner-a1.conf lacks '$line'"
done
grep -qE '^sasl\.password=[0-9a-f]{64}$' <<<"$conf" && pass "scanner-a1.conf: librdkafka SASL_SSL/SCRAM config" \
  || fail "scanner-a1.conf has no random password"
[[ "$(sed -n 's/^sasl.password=//p' "$sec/scanner-a1.conf")" != "$(sed -n 's/^sasl.password=//p' "$sec/scanner-b1.conf")" ]] \
  && pass "each principal has its own password" || fail "scanner-a1 and scanner-b1 share a password"

# 2. a scanner: its own tenant's topic only
out="$(produce scanner-a1 ovoflow.scans.v1.hatchery-a scan-a1)"; rc=$?
[[ $rc -eq 0 ]] && pass "scanner-a1 writes ovoflow.scans.v1.hatchery-a" || fail "scanner-a1 to its own topic: exit $rc: $out"
out="$(produce scanner-a1 ovoflow.scans.v1.hatchery-b forged-by-a1)"; rc=$?
expect_denied "scanner-a1 writing ovoflow.scans.v1.hatchery-b (another tenant)" $rc "$out"
out="$(produce scanner-a1 ovoflow.predictions.v1 forged-by-a1)"; rc=$?
expect_denied "scanner-a1 writing ovoflow.predictions.v1" $rc "$out"
for t in ovoflow.scans.v1.hatchery-a ovoflow.scans.v1.hatchery-b ovoflow.predictions.v1; do
  out="$(consume scanner-a1 "$t")"; rc=$?
  expect_denied "scanner-a1 reading $t" $rc "$out"
done
out="$(kc -L -F "$sec/scanner-a1.conf" -b "$bs" -m 10)"
topics="$(sed -n 's/^  topic "\([^"]*\)".*/\1/p' <<<"$out")"
[[ "$topics" == ovoflow.scans.v1.hatchery-a ]] && pass "scanner-a1 sees only its own topic's name in metadata" \
  || fail "scanner-a1 sees topics: $(tr '\n' ' ' <<<"$topics")"
out="$(produce scanner-b1 ovoflow.scans.v1.hatchery-b scan-b1)"; rc=$?
[[ $rc -eq 0 ]] && pass "scanner-b1 writes ovoflow.scans.v1.hatchery-b" || fail "scanner-b1: exit $rc: $out"

# 3. no credentials, wrong ones, or the wrong door
# Refusals arrive within a second; -m bounds how long kcat retries after them.
out="$(kc -L -F "$sec/scanner-a1.conf" -X sasl.password=not-the-password -b "$bs" -m 5)"; rc=$?
[[ $rc -ne 0 && "$out" == *"SASL authentication error"*"invalid credentials"* && "$out" != *"broker 1 at"* ]] \
  && pass "a wrong password: SASL authentication failed" || fail "wrong password: exit $rc:"$'\n'"$(indent "$out")"
out="$(kc -L -F "$sec/scanner-a1.conf" -X sasl.username=nobody -b "$bs" -m 5)"; rc=$?
[[ $rc -ne 0 && "$out" == *"SASL authentication error"* ]] && pass "an unknown user: SASL authentication failed" \
  || fail "unknown user: exit $rc:"$'\n'"$(indent "$out")"
out="$(kc -L -b "$bs" -m 3)"; rc=$?
[[ $rc -ne 0 && "$out" == *Disconnected* && "$out" != *"broker 1 at"* ]] && pass "plaintext without SASL: disconnected, no metadata" \
  || fail "plaintext: exit $rc:"$'\n'"$(indent "$out")"
out="$(printf 'x\n' | kc -P -b "$bs" -t ovoflow.scans.v1.hatchery-a -X message.timeout.ms=3000)"; rc=$?
[[ $rc -ne 0 ]] && pass "plaintext without SASL cannot produce" || fail "plaintext produce: exit 0"
out="$(kc -L -b "$bs" -X security.protocol=ssl -X "ssl.ca.location=$sec/ca.pem" -m 3)"; rc=$?
[[ $rc -ne 0 && "$out" == *Disconnected* && "$out" != *"broker 1 at"* ]] && pass "TLS without SASL: disconnected, no metadata" \
  || fail "TLS without SASL: exit $rc:"$'\n'"$(indent "$out")"
out="$(kc -L -b "127.0.0.1:$cport" -m 3)"; rc=$?
out2="$(kc -L -b "127.0.0.1:$cport" -X security.protocol=ssl -X "ssl.ca.location=$sec/ca.pem" -m 3)"; rc2=$?
[[ $rc -ne 0 && "$out" == *Disconnected* && $rc2 -ne 0 && "$out2" == *"bad certificate"* ]] \
  && pass "the controller port refuses plaintext and TLS without the brokers' certificate" \
  || fail "controller port: plaintext exit $rc, TLS exit $rc2:"$'\n'"$(indent "$out2")"

# 4. the stages' principals
got="$(kc -C -F "$sec/ovoflow-infer.conf" -b "$bs" -G ovoflow-infer -X auto.offset.reset=earliest \
  -c 2 -q -f '%t %s\n' '^ovoflow\.scans\.v1\..+' | sort)"
want=$'ovoflow.scans.v1.hatchery-a scan-a1\novoflow.scans.v1.hatchery-b scan-b1'
[[ "$got" == "$want" ]] && pass "ovoflow-infer reads both tenants' topics (group ovoflow-infer, regex subscription)" \
  || fail "ovoflow-infer read:"$'\n'"$(indent "$got")"
got="$(consume ovoflow-infer ovoflow.scans.v1.hatchery-b)"
[[ "$got" == scan-b1 ]] && pass "nothing forged reached ovoflow.scans.v1.hatchery-b" || fail "hatchery-b holds: $got"
out="$(produce ovoflow-infer ovoflow.predictions.v1 prediction)"; rc=$?
[[ $rc -eq 0 ]] && pass "ovoflow-infer writes ovoflow.predictions.v1" || fail "ovoflow-infer predictions: exit $rc: $out"
out="$(produce ovoflow-api ovoflow.scans.v1.hatchery-b scan-via-api)"; rc=$?
[[ $rc -eq 0 ]] && pass "ovoflow-api writes any tenant's scan topic (prefixed ACL)" || fail "ovoflow-api: exit $rc: $out"
out="$(consume ovoflow-api ovoflow.scans.v1.hatchery-a)"; rc=$?
expect_denied "ovoflow-api reading scans" $rc "$out"
out="$(produce ovoflow-store ovoflow.scans.v1.hatchery-a forged-by-store)"; rc=$?
expect_denied "ovoflow-store writing scans" $rc "$out"
got="$(consume ovoflow-store ovoflow.predictions.v1)"
[[ "$got" == prediction ]] && pass "ovoflow-store reads ovoflow.predictions.v1" || fail "ovoflow-store read: $got"
out="$(produce ovoflow-infer ovoflow.models.v1 forged-activation)"; rc=$?
expect_denied "ovoflow-infer writing ovoflow.models.v1 (only ovoflow-model-admin may)" $rc "$out"
out="$(printf 'active:gonad-cnn@2.1.0\n' | kc -P -K: -F "$sec/ovoflow-model-admin.conf" -b "$bs" -t ovoflow.models.v1 \
  -X acks=all -X message.timeout.ms=15000)"; rc=$?
[[ $rc -eq 0 ]] && pass "ovoflow-model-admin writes ovoflow.models.v1" || fail "ovoflow-model-admin: exit $rc: $out"
# Transactions as the worker runs them (transactional.id ovoflow-infer-<worker>),
# with Kafka's Java producer: ovoflow-infer's config as Java properties.
props="$tmp/ovoflow-infer.properties"
(umask 077 && printf '%s\n' security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512 \
  "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"ovoflow-infer\" password=\"$(sed -n 's/^sasl.password=//p' "$sec/ovoflow-infer.conf")\";" \
  ssl.truststore.type=PEM "ssl.truststore.location=$sec/ca.pem" >"$props")
txn() {  # txn TRANSACTIONAL_ID: 5 records to ovoflow.predictions.v1 in transactions
  timeout 90 "$kafka" tool org.apache.kafka.tools.ProducerPerformance --topic ovoflow.predictions.v1 \
    --num-records 5 --record-size 10 --throughput -1 --producer.config "$props" \
    --producer-props "bootstrap.servers=$bs" acks=all --transactional-id "$1" --transaction-duration-ms 100 2>&1
}
out="$(txn ovoflow-infer-acl-test)"; rc=$?
[[ $rc -eq 0 && "$out" == *"5 records sent"* ]] && pass "ovoflow-infer commits transactions as ovoflow-infer-<worker>" \
  || fail "ovoflow-infer transactions: exit $rc:"$'\n'"$(indent "$(tail -n 5 <<<"$out")")"
out="$(txn someone-else)"; rc=$?
[[ $rc -ne 0 && "$out" == *TransactionalIdAuthorizationException* ]] \
  && pass "ovoflow-infer with another transactional.id: refused (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)" \
  || fail "ovoflow-infer transactional.id someone-else: exit $rc:"$'\n'"$(indent "$(tail -n 5 <<<"$out")")"

# 5. a new tenant and scanner while running
if out="$("$kafka" acl-tenant hatchery-c scanner-c1 --data-dir "$data" 2>&1)"; then
  indent "$out"; pass "acl-tenant hatchery-c scanner-c1"
else
  indent "$out"; fail "acl-tenant failed"
fi
[[ "$(stat -c %a "$sec/scanner-c1.conf" 2>/dev/null)" == 600 ]] && pass "scanner-c1.conf written, mode 600" \
  || fail "no scanner-c1.conf with mode 600"
out="$(produce scanner-c1 ovoflow.scans.v1.hatchery-c scan-c1)"; rc=$?
[[ $rc -eq 0 ]] && pass "scanner-c1 writes ovoflow.scans.v1.hatchery-c" || fail "scanner-c1: exit $rc: $out"
out="$(produce scanner-c1 ovoflow.scans.v1.hatchery-a forged-by-c1)"; rc=$?
expect_denied "scanner-c1 writing ovoflow.scans.v1.hatchery-a" $rc "$out"
got="$(consume ovoflow-infer ovoflow.scans.v1.hatchery-c)"
[[ "$got" == scan-c1 ]] && pass "ovoflow-infer reads the new tenant's topic without a new ACL" || fail "infer read hatchery-c: $got"
out="$("$kafka" acl-tenant hatchery-a scanner-c1 --data-dir "$data" 2>&1)"; rc=$?
[[ $rc -ne 0 && "$out" == *"already writes for tenant hatchery-c"* ]] \
  && pass "acl-tenant refuses a second tenant for a scanner" || fail "acl-tenant second tenant: exit $rc: $out"

# 6. the data dir remembers secure mode
"$kafka" stop --data-dir "$data" >/dev/null 2>&1 || fail "stop failed"
if out="$("$kafka" start --port "$port" --controller-port "$cport" --data-dir "$data" 2>&1)" \
   && [[ "$out" == *"secure: SASL_SSL"* ]]; then
  pass "start without --secure on a secure data dir stays secure"
else
  indent "$out"; fail "restart without --secure"
fi
out="$(kc -L -b "$bs" -m 3)"; rc=$?
[[ $rc -ne 0 && "$out" == *Disconnected* ]] && pass "after the restart plaintext is still disconnected" \
  || fail "plaintext after restart: exit $rc"
got="$(consume ovoflow-infer ovoflow.scans.v1.hatchery-a)"
[[ "$got" == scan-a1 ]] && pass "after the restart the principals and data are there" || fail "after restart: $got"
plain="$tmp/plain"
mkdir -p "$plain" && echo "created by ovoflow scripts/kafka" >"$plain/.ovoflow-kafka" && : >"$plain/server.properties"
out="$("$kafka" start --secure --port "$(free_port)" --data-dir "$plain" 2>&1)"; rc=$?
[[ $rc -ne 0 && "$out" == *"without --secure"*"--fresh --secure"* ]] \
  && pass "start --secure on a plaintext data dir is refused" || fail "--secure on plaintext dir: exit $rc: $out"
