#!/usr/bin/env bash
# `cond && pass ... || fail ...` is safe here (pass/fail always succeed);
# cleanup is reached from the EXIT trap.
# shellcheck disable=SC2015,SC2317
# HTTPS on the real `ovoflow api` and on a component's metrics endpoint,
# with the certificates scripts/tls makes for `make up`:
#   - scripts/tls is idempotent and keeps keys private;
#   - plain HTTP is refused without --insecure-http, and off loopback;
#   - curl --cacert verifies the server (HSTS present, CRL check passes);
#     without the CA it fails; plain HTTP on the TLS port gets no answer;
#   - SIGHUP reloads a renewed certificate;
#   - testssl.sh (Debian) finds no HIGH or CRITICAL issue; its whole output
#     is printed here, so it stays in the test log.
# Needs the test broker ($OVOFLOW_TEST_BROKERS). Stops what it started and
# removes its temp dir, also when a check fails.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${OVOFLOW_BINARY_DIR:?OVOFLOW_BINARY_DIR is not set (run through ctest)}/src/exe/ovoflow"
brokers="${OVOFLOW_TEST_BROKERS:?OVOFLOW_TEST_BROKERS is not set (run through ctest)}"
# shellcheck source=../../scripts/lib/test_helpers.sh
source "$repo/scripts/lib/test_helpers.sh"
command -v testssl >/dev/null || abort "testssl (Debian's testssl.sh) is missing: run scripts/setup"

test_workspace tls_test
start_watchdog 420

# 1. scripts/tls: once, then kept; keys private
tls="$tmp/tls"
"$repo/scripts/tls" --dir "$tls" > "$tmp/tls.log" 2>&1 || abort "scripts/tls failed: $(cat "$tmp/tls.log")"
fp1="$(openssl x509 -in "$tls/server.pem" -noout -fingerprint -sha256)"
"$repo/scripts/tls" --dir "$tls" > "$tmp/tls.log" 2>&1 || abort "scripts/tls failed the second time"
fp2="$(openssl x509 -in "$tls/server.pem" -noout -fingerprint -sha256)"
[[ "$fp1" == "$fp2" ]] && pass "scripts/tls keeps an existing certificate" || fail "scripts/tls made a new certificate"
[[ "$(stat -c %a "$tls/server.key")" == 600 && "$(stat -c %a "$tls/ca.key")" == 600 ]] \
  && pass "private keys are readable by their owner only" || fail "key modes: $(stat -c '%n %a' "$tls"/*.key)"
openssl verify -crl_check -CAfile "$tls/ca.pem" -CRLfile "$tls/ca.crl" "$tls/server.pem" >/dev/null 2>&1 \
  && pass "the certificate verifies against the CA and its CRL" || fail "openssl verify -crl_check failed"

# 2. plain HTTP only when asked for, and only on loopback
port="$(free_port)" || abort "no free port"
out="$(timeout 60 "$bin" api --brokers "$brokers" --db "sqlite://$tmp/a.db" --port "$port" 2>&1)"; rc=$?
[[ $rc -ne 0 && "$out" == *"--tls-cert"* ]] && pass "without a certificate the API refuses to start" \
  || fail "api without TLS flags: exit $rc: $(tail -n 2 <<<"$out")"
out="$(timeout 60 "$bin" api --brokers "$brokers" --db "sqlite://$tmp/a.db" --port "$port" --insecure-http \
  --listen 0.0.0.0 2>&1)"; rc=$?
[[ $rc -ne 0 && "$out" == *"loopback"* ]] && pass "--insecure-http off loopback is refused" \
  || fail "--insecure-http --listen 0.0.0.0: exit $rc: $(tail -n 2 <<<"$out")"

# 3. HTTPS on the API
# (An issuer nobody answers for: this test reads only /healthz, which is public.)
"$bin" api --brokers "$brokers" --db "sqlite://$tmp/a.db" --port "$port" --tls-cert "$tls/server.pem" \
  --tls-key "$tls/server.key" --oidc-issuer "https://127.0.0.1:9/realms/none" > "$tmp/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
url="https://localhost:$port"
for ((i = 0; i < 150; i++)); do
  curl -fsS --max-time 2 --cacert "$tls/ca.pem" "$url/healthz" >/dev/null 2>&1 && break
  kill -0 "$api_pid" 2>/dev/null || abort "ovoflow api exited: $(tail -n 5 "$tmp/api.log")"
  sleep 0.2
done
headers="$(curl -sS --max-time 5 --cacert "$tls/ca.pem" --crlfile "$tls/ca.crl" -D - -o /dev/null "$url/healthz" 2>&1)"
[[ "$headers" == "HTTP/1.1 200"* ]] && pass "curl --cacert (and the CRL) gets 200 over HTTPS" \
  || fail "curl --cacert: $(head -n 1 <<<"$headers")"
grep -qi '^strict-transport-security: max-age=63072000' <<<"$headers" && pass "HSTS on HTTPS responses" \
  || fail "no HSTS header: $headers"
curl -sS --max-time 5 "$url/healthz" >/dev/null 2>&1; rc=$?
[[ $rc -eq 60 ]] && pass "a client without the CA refuses the certificate (curl exit 60)" || fail "curl without CA: exit $rc"
code="$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://localhost:$port/healthz")"
[[ "$code" == 000 ]] && pass "plain HTTP on the TLS port gets no answer" || fail "plain HTTP got $code"
curl -s --max-time 5 --cacert "$tls/ca.pem" --tls-max 1.1 "$url/healthz" >/dev/null 2>&1; rc=$?
[[ $rc -ne 0 ]] && pass "TLS 1.1 is refused" || fail "TLS 1.1 was accepted"

# 4. SIGHUP reloads a renewed certificate (a new CA here, to tell them apart)
"$repo/scripts/tls" --dir "$tmp/tls-next" > "$tmp/tls.log" 2>&1 || abort "scripts/tls (next) failed"
cp "$tmp/tls-next/server.pem" "$tls/server.pem" && cp "$tmp/tls-next/server.key" "$tls/server.key"
kill -HUP "$api_pid"
for ((i = 0; i < 50; i++)); do
  curl -fsS --max-time 2 --cacert "$tmp/tls-next/ca.pem" "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS --max-time 5 --cacert "$tmp/tls-next/ca.pem" "$url/healthz" >/dev/null 2>&1 \
  && pass "after SIGHUP the renewed certificate is served" || fail "SIGHUP did not reload: $(tail -n 3 "$tmp/api.log")"
kill -0 "$api_pid" 2>/dev/null && pass "the API runs on after SIGHUP" || fail "SIGHUP stopped the API"
cp "$tmp/tls-next/ca.pem" "$tls/ca.pem"

# 5. a component's metrics endpoint speaks TLS too
mport="$(free_port)" || abort "no free port"
# A consumer group of its own: in the default one it would take partitions
# from the store writers of other tests on the same broker.
"$bin" store --brokers "$brokers" --store-group "tls-test-$$-$RANDOM" --db "sqlite://$tmp/s.db" \
  --metrics-port "$mport" --tls-cert "$tls/server.pem" --tls-key "$tls/server.key" > "$tmp/store.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 150; i++)); do
  curl -fsS --max-time 2 --cacert "$tls/ca.pem" "https://localhost:$mport/metrics" >/dev/null 2>&1 && break
  sleep 0.2
done
# Read the whole body first: grep -q stops at its first match, and under
# pipefail curl's "failed writing body" would fail the check.
metrics_body=$(curl -fsS --max-time 5 --cacert "$tls/ca.pem" "https://localhost:$mport/metrics" 2>&1)
grep -q '^ovoflow_' <<< "$metrics_body" \
  && pass "the store writer's /metrics answers over HTTPS" || fail "metrics over HTTPS: $(tail -n 3 "$tmp/store.log")"

# 6. testssl.sh: the whole report here, then no HIGH or CRITICAL finding
echo "---- testssl.sh against $url (takes about a minute)"
timeout 300 testssl --quiet --color 0 --add-ca "$tls/ca.pem" --jsonfile "$tmp/testssl.json" "127.0.0.1:$port" 2>&1
[[ -s "$tmp/testssl.json" ]] || abort "testssl.sh wrote no JSON report"
findings="$(python3 - "$tmp/testssl.json" <<'PY'
import json, sys
bad = [f for f in json.load(open(sys.argv[1])) if f.get("severity") in ("HIGH", "CRITICAL")]
for f in bad:
    print(f"{f['severity']} {f['id']}: {f['finding']}")
PY
)"
echo "---- end of testssl.sh"
[[ -z "$findings" ]] && pass "testssl.sh: no HIGH or CRITICAL finding" || fail "testssl.sh findings:"$'\n'"$findings"
