#!/usr/bin/env bash
# `cond && pass ... || fail ...` is safe here (pass/fail always succeed);
# cleanup is reached from the EXIT trap.
# shellcheck disable=SC2015,SC2317
# schemathesis (property-based tests generated from the OpenAPI document)
# against a real `ovoflow api` that trusts the test Keycloak, with every
# check (`st run --checks all`): no server error, no status code, header,
# content type or body the document does not state, no schema-valid request
# refused, no invalid one accepted, no operation that works without its
# token. Its summary stays in the test log; any failure fails the test.
#
# - schemathesis $ST_VERSION from PyPI, in a virtualenv of its own under
#   ~/.cache/ovoflow/venv/ ($OVOFLOW_CACHE), made once (python3 -m venv +
#   pip), outside the clone.
# - Tokens come from the test Keycloak and are renewed during the run: the
#   realm's access tokens live 5 minutes. Every operation runs as
#   platform-admin, POST /v1/scans as the scanner client
#   scanner-hatchery-a-1 (the only role it takes).
# - The store holds a few predictions (SQLite, written here) so that pages,
#   eggs, stats and outcomes have bodies to check. The model registry holds
#   the committed model's model.json without its weights: it is listed, its
#   input geometry applies to scans, and activating it is a 422 (it does not
#   load), so no activation ever reaches the shared test broker.
# - The failed-authentication limit is raised: schemathesis sends many
#   requests without or with broken tokens (ignored_auth).
# - What JSON Schema cannot state, the document states in words, and a
#   hook keeps schemathesis's "valid" requests to it (only requests
#   schemathesis generates as valid, never the invalid ones): a time range
#   with `from` after `to` is swapped, a cursor the server did not issue is
#   replaced by one it could have issued, and an outcome's observed_at ahead
#   of the clock is moved into the past. Three operations take one more
#   answer to a valid request: GET /v1/live 426 (a WebSocket endpoint,
#   answered 426 without the upgrade), POST /v1/scans 422 (a scan's data size
#   follows from its geometry, and its geometry must be the served model's:
#   rules between fields and with the server's state, in words in the
#   document; so no scan is ever published either), and
#   POST /v1/models/{version}:activate 422 (the model here does not load).
# - Stateful tests follow the document's links only (see the configuration).
# Needs the test broker ($OVOFLOW_TEST_BROKERS) and Keycloak
# ($OVOFLOW_TEST_KEYCLOAK_PORT). Stops the API and removes its temp dir, also
# when a check fails.
set -uo pipefail

ST_VERSION=4.32.5
# Test cases per operation and phase: about 2,500 in all, 30 s on two cores.
ST_EXAMPLES="${OVOFLOW_ST_EXAMPLES:-100}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${OVOFLOW_BINARY_DIR:?OVOFLOW_BINARY_DIR is not set (run through ctest)}/src/exe/ovoflow"
brokers="${OVOFLOW_TEST_BROKERS:?OVOFLOW_TEST_BROKERS is not set (run through ctest)}"
kc_port="${OVOFLOW_TEST_KEYCLOAK_PORT:?OVOFLOW_TEST_KEYCLOAK_PORT is not set (run through ctest)}"
keycloak="$repo/scripts/keycloak"
# shellcheck source=../../scripts/lib/test_helpers.sh
source "$repo/scripts/lib/test_helpers.sh"
[[ -x "$bin" ]] || abort "$bin is missing: build the ovoflow target"
command -v python3 >/dev/null || abort "python3 is missing: run scripts/setup"

test_workspace schemathesis_test
start_watchdog 225

# 1. schemathesis in its own virtualenv, made once and then reused. It is
# complete only with its marker (an interrupted install is made again); a
# lock keeps two tests from building it at once.
venv="${OVOFLOW_CACHE:-$HOME/.cache/ovoflow}/venv/schemathesis-$ST_VERSION"
st="$venv/bin/st"
if [[ ! -f "$venv/.complete" ]]; then
  mkdir -p "$(dirname "$venv")" || abort "cannot create $(dirname "$venv")"
  (
    flock 9
    [[ -f "$venv/.complete" ]] && exit 0
    echo "making $venv (schemathesis $ST_VERSION from PyPI, once)"
    rm -rf "$venv"
    python3 -m venv "$venv" || exit 1
    timeout 150 "$venv/bin/pip" install --disable-pip-version-check -q "schemathesis==$ST_VERSION" || exit 1
    touch "$venv/.complete"
  ) 9>"$venv.lock" > "$tmp/venv.log" 2>&1 \
    || abort "could not make the schemathesis virtualenv (python3-venv missing? PyPI unreachable?): $(tail -n 5 "$tmp/venv.log")"
fi
[[ "$("$st" --version 2>&1)" == *"$ST_VERSION"* ]] && pass "schemathesis $ST_VERSION in $venv" \
  || abort "$st --version: $("$st" --version 2>&1)"

# 2. the API, trusting the test Keycloak
issuer="$("$keycloak" issuer --port "$kc_port")"
"$keycloak" token --user platform-admin --port "$kc_port" >/dev/null 2>"$tmp/keycloak.log" \
  || abort "no token from the test Keycloak on port $kc_port: $(cat "$tmp/keycloak.log")"
"$bin" topics --brokers "$brokers" > "$tmp/topics.log" 2>&1 || abort "ovoflow topics failed: $(tail -n 3 "$tmp/topics.log")"
model_json="$(find "$repo/models/gonad-cnn" -name model.json | sort | tail -n 1)"
[[ -f "$model_json" ]] || abort "no model.json under $repo/models/gonad-cnn"
model_dir="$tmp/models/gonad-cnn/$(basename "$(dirname "$model_json")")"
mkdir -p "$model_dir" && cp "$model_json" "$model_dir/" || abort "cannot make the registry in $tmp/models"
port="$(free_port)" || abort "no free port"
url="http://127.0.0.1:$port"
"$bin" api --insecure-http --port "$port" --db "sqlite://$tmp/s.db" --brokers "$brokers" --oidc-issuer "$issuer" \
  --models-dir "$tmp/models" --web-root "$repo/web/dist" --auth-failure-limit 1000000 > "$tmp/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
for ((i = 0; i < 150; i++)); do
  curl -fsS --max-time 2 "$url/healthz" >/dev/null 2>&1 && break
  kill -0 "$api_pid" 2>/dev/null || abort "ovoflow api exited: $(tail -n 5 "$tmp/api.log")"
  sleep 0.2
done
curl -fsS --max-time 2 "$url/healthz" >/dev/null 2>&1 || abort "ovoflow api does not answer on $url"

# 3. a few predictions in its store (the store writer's table, written
# directly: this test has no inference worker), and one outcome through the API
"$venv/bin/python" - "$tmp/s.db" > "$tmp/seed.log" 2>&1 <<'PY' || abort "seeding the store failed: $(tail -n 5 "$tmp/seed.log")"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10)
t = 1_796_000_000 * 10**9
rows = [  # tenant, egg, sex, p_female, decision, captured_at offset (s)
    ("hatchery-a", "egg-a1", 1, 0.93, 1, 0), ("hatchery-a", "egg-a2", 2, 0.04, 2, 60),
    ("hatchery-a", "egg-a3", 1, 0.55, 3, 120), ("hatchery-b", "egg-b1", 2, 0.12, 2, 180),
]
db.executemany(
    "INSERT INTO predictions (tenant_id, egg_id, scanner_id, tray_id, tray_position, incubation_day, sex, p_female,"
    " decision, model_name, model_version, keep_threshold, divert_threshold, captured_at_ns, published_at_ns,"
    " consumed_at_ns, inferred_at_ns, stored_at_ns, worker_id) VALUES (?, ?, 'scanner-a1', 'tray-1', 3, 12, ?, ?, ?,"
    " 'gonad-cnn', '2.1.0', 0.8, 0.2, ?, ?, ?, ?, ?, 'worker-0')",
    [(tn, egg, sex, p, d, t + s * 10**9, t + s * 10**9 + 10**7, t + s * 10**9 + 2 * 10**7, t + s * 10**9 + 5 * 10**7,
      t + s * 10**9 + 10**9) for tn, egg, sex, p, d, s in rows])
db.commit()
print(db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0], "predictions")
PY
token="$("$keycloak" token --user platform-admin --port "$kc_port")" || abort "no platform-admin token"
code="$(curl -sS --max-time 10 -o "$tmp/outcome.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"tenant_id":"hatchery-a","sex":"FEMALE","source":"hatch"}' \
  "$url/v1/eggs/egg-a1/outcome")"
[[ "$code" == 201 ]] && pass "store seeded: 4 predictions, 1 outcome" || abort "seed outcome: $code $(cat "$tmp/outcome.json")"

# 4. the hook (tokens; what the document says in words) and the configuration
cat > "$tmp/hooks.py" <<'PY'
import base64
import datetime
import os
import re
import struct
import subprocess

import schemathesis

KEYCLOAK = os.environ["OVOFLOW_ST_KEYCLOAK"]
PORT = os.environ["OVOFLOW_ST_KEYCLOAK_PORT"]


class Bearer:
    """A token from the test Keycloak, fetched again every 2 minutes (tokens live 5)."""

    who = ()

    def get(self, case, ctx):
        out = subprocess.run([KEYCLOAK, "token", *self.who, "--port", PORT], check=True, capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.auth(refresh_interval=120).skip_for(operation_id="submitScan")
class PlatformAdmin(Bearer):
    who = ("--user", "platform-admin")


@schemathesis.auth(refresh_interval=120).apply_to(operation_id="submitScan")
class Scanner(Bearer):
    who = ("--client", "scanner-hatchery-a-1")


_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d\d):(\d\d))$")


def unix_nanos(text):
    m = _TIME.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        days = (datetime.date(y, mo, d) - datetime.date(1970, 1, 1)).days
    except ValueError:
        return None
    secs = days * 86400 + h * 3600 + mi * 60 + s
    if m.group(8):
        offset = int(m.group(9)) * 3600 + int(m.group(10)) * 60
        secs -= offset if m.group(8) == "+" else -offset
    return secs * 10**9 + int((m.group(7) or "0").ljust(9, "0"))


def server_issued(cursor):
    """Whether the server could have issued it (src/store/cursor.cc, DecodeCursor)."""
    if len(cursor) % 4 == 1 or not re.fullmatch(r"[A-Za-z0-9_-]*", cursor):
        return False
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != cursor:  # non-zero trailing bits
        return False
    if len(raw) < 13 or raw[0] != 1:
        return False
    (tenant_len,) = struct.unpack(">I", raw[9:13])
    return tenant_len <= 4096 and 1 <= len(raw) - 13 - tenant_len <= 4096


def a_cursor(seed):
    """One the server could have issued: version 1, a time, a tenant and an egg id."""
    raw = b"\x01" + struct.pack(">qI", 1_796_000_000 * 10**9, 10) + b"hatchery-a" + (seed.encode()[:64] or b"e")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@schemathesis.hook
def map_case(ctx, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    query = case.query
    if isinstance(query, dict):
        cursor = query.get("cursor")
        if isinstance(cursor, str) and cursor and not server_issued(cursor):
            query["cursor"] = a_cursor(cursor)
        lo, hi = query.get("from"), query.get("to")
        if isinstance(lo, str) and isinstance(hi, str):
            a, b = unix_nanos(lo), unix_nanos(hi)
            if a is not None and b is not None and a > b:
                query["from"], query["to"] = hi, lo
    body = case.body
    if case.operation.method.upper() == "POST" and case.operation.path.endswith("/outcome") and isinstance(body, dict):
        seen = body.get("observed_at")
        if isinstance(seen, str) and seen:
            t = unix_nanos(seen)
            if t is not None and t > datetime.datetime.now(datetime.timezone.utc).timestamp() * 10**9:
                body["observed_at"] = "2000" + seen[4:]  # 2000 is a leap year: the same date exists
    return case
PY
cat > "$tmp/schemathesis.toml" <<'TOML'
# GET /v1/live is a WebSocket endpoint: a valid plain GET is answered 426.
[[operations]]
include-operation-id = "live"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "426", "429", "5xx"]

# Stateful tests follow the document's links only. Inferred ones (from
# Location headers, by path prefix, or by dependency analysis) include
# POST .../outcome -> POST .../outcome, whose second request names another
# tenant in its body: a 404 it takes for a created resource not found (an
# outcome is the egg's of one tenant; the tenant is in the body).
[phases.stateful.inference]
algorithms = []

# The registry's model has no weights here (so that nothing is activated on
# the shared broker): activating it is a 422, "does not load".
[[operations]]
include-operation-id = "activateModel"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

# A scan valid by the document may still break the rules between its fields
# (data size from the geometry) or not fit the served model: 422.
[[operations]]
include-operation-id = "submitScan"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
TOML

# 5. schemathesis: every check, every phase (examples, coverage, fuzzing,
# stateful through the document's links); its whole output here
echo "---- st run $url/openapi.yaml --checks all --max-examples $ST_EXAMPLES"
t_st=$SECONDS
(cd "$tmp" && OVOFLOW_ST_KEYCLOAK="$keycloak" OVOFLOW_ST_KEYCLOAK_PORT="$kc_port" SCHEMATHESIS_HOOKS="$tmp/hooks.py" \
  timeout 170 "$st" --config-file "$tmp/schemathesis.toml" run "$url/openapi.yaml" --checks all \
  --max-examples "$ST_EXAMPLES" --continue-on-failure --request-timeout 10 --workers 2 --no-color 2>&1)
rc=$?
echo "---- end of schemathesis ($((SECONDS - t_st)) s)"
[[ $rc -eq 0 ]] && pass "schemathesis: no failure" || fail "schemathesis exited $rc (failures above)"
kill -0 "$api_pid" 2>/dev/null && pass "the API runs on" || fail "the API died: $(tail -n 5 "$tmp/api.log")"
