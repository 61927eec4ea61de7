#!/usr/bin/env bash
# `cond && pass ... || fail ...` is safe here (pass/fail always succeed).
# shellcheck disable=SC2015
# Interop with a Modbus client nobody here wrote: Debian's mbpoll against
# modbus_sorter_serve (a SortScheduler on a manual clock feeding a
# ModbusSorter; see modbus_sorter_serve.cc for the three decisions it
# holds). Checks the header, the decided positions, the 32-bit sequence,
# that the heartbeat moves, that a client may write an acknowledgement and
# nothing else, and that the server stops on TERM and reports the
# acknowledgement. Stops the server and removes its temp dir also when a
# check fails (test_workspace's EXIT trap).
# Usage: modbus_mbpoll_test.sh PATH/TO/modbus_sorter_serve
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
serve="${1:?usage: modbus_mbpoll_test.sh PATH/TO/modbus_sorter_serve}"
# shellcheck source=../../../scripts/lib/test_helpers.sh
source "$repo/scripts/lib/test_helpers.sh"
command -v mbpoll >/dev/null || abort "mbpoll is missing: run scripts/setup (Debian package mbpoll)"
[[ -x "$serve" ]] || abort "$serve is not an executable"

test_workspace modbus_mbpoll_test
start_watchdog 100

"$serve" > "$tmp/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
for ((i = 0; i < 300; i++)); do
  grep -q '^ready$' "$tmp/serve.log" && break
  kill -0 "$serve_pid" 2>/dev/null || abort "modbus_sorter_serve exited: $(tail -n 5 "$tmp/serve.log")"
  sleep 0.1
done
grep -q '^ready$' "$tmp/serve.log" || abort "modbus_sorter_serve did not get ready"
port="$(awk '/^port /{print $2}' "$tmp/serve.log")"
tray_a="$(awk '/^tag-TRAY-A /{print $2}' "$tmp/serve.log")"
[[ "$port" =~ ^[0-9]+$ && "$tray_a" =~ ^[0-9]+$ ]] || abort "no port or tag in: $(cat "$tmp/serve.log")"

# mbpoll_at ARGS...: mbpoll on the server (Modbus TCP, unit 1, 0-based
# addresses, one poll, 5 s timeout); its errors in $tmp/mbpoll.log.
mbpoll_at() { timeout 20 mbpoll -m tcp -a 1 -0 -1 -o 5 -p "$port" "$@" 2>"$tmp/mbpoll.log"; }
# read_regs ADDRESS COUNT [OPTIONS...]: the values, one per line.
read_regs() {
  local address="$1" count="$2"
  shift 2
  mbpoll_at -r "$address" -c "$count" "$@" 127.0.0.1 | awk -F'\t' '/^\[[0-9]+\]:/ { split($2, v, " "); print v[1] }'
}
# regs ADDRESS COUNT [OPTIONS...]: the values on one line.
regs() { read_regs "$@" | paste -sd' '; }

# 1. The header (docs/sorter.md).
mapfile -t h < <(read_regs 0 16)
[[ ${#h[@]} -eq 16 ]] || abort "mbpoll read ${#h[@]} header registers: $(cat "$tmp/mbpoll.log")"
[[ "${h[0]}" == 1 ]] && pass "layout version 1" || fail "layout version ${h[0]}"
[[ "${h[2]}" != 0 ]] && pass "epoch ${h[2]} is set" || fail "epoch is 0"
[[ "${h[3]}" == 1 ]] && pass "status: ready" || fail "status ${h[3]}"
[[ "${h[4]} ${h[5]}" == "0 3" ]] && pass "sequence words 0 3" || fail "sequence words ${h[4]} ${h[5]}"
[[ "${h[6]} ${h[7]} ${h[8]} ${h[9]}" == "150 4 16 616" ]] && pass "150 positions of 4 words from 16, acks from 616" \
  || fail "layout words ${h[6]} ${h[7]} ${h[8]} ${h[9]}"
seq32="$(regs 4 1 -t 4:int -B)"
[[ "$seq32" == 3 ]] && pass "the 32-bit sequence (big-endian word order) is 3" || fail "32-bit sequence '$seq32'"

# 2. The positions the scheduler decided.
got="$(regs 16 8)"
[[ "$got" == "1 1 17 1 2 2 17 1" ]] && pass "positions 0-1: KEEP seq 1, DIVERT seq 2, tray 17, PREDICTION" \
  || fail "positions 0-1: '$got'"
got="$(regs 24 4)"
[[ "$got" == "0 0 0 0" ]] && pass "position 2: nothing decided" || fail "position 2: '$got'"
got="$(regs 612 4)"
[[ "$got" == "3 3 $tray_a 258" ]] && pass "position 149: RECHECK seq 3, tray TRAY-A, DEADLINE + late" \
  || fail "position 149: '$got' (want '3 3 $tray_a 258')"

# 3. The heartbeat moves (waits for a change, up to 30 s).
beat="${h[1]}"
moved=""
for ((i = 0; i < 300; i++)); do
  now="$(regs 1 1)"
  [[ -n "$now" && "$now" != "$beat" ]] && { moved="$now"; break; }
  sleep 0.1
done
[[ -n "$moved" ]] && pass "heartbeat moved from $beat to $moved" || fail "heartbeat stayed at $beat"

# 4. A client writes acknowledgements, and nothing else.
mbpoll_at -r 617 127.0.0.1 2 >/dev/null && pass "mbpoll wrote the acknowledgement of position 1" \
  || fail "writing the acknowledgement failed: $(cat "$tmp/mbpoll.log")"
got="$(regs 617 1)"
[[ "$got" == 2 ]] && pass "the acknowledgement reads back" || fail "acknowledgement of position 1: '$got'"
if mbpoll_at -r 16 127.0.0.1 5 >/dev/null; then
  fail "a write to a decision register was accepted"
else
  grep -qi "illegal data address" "$tmp/mbpoll.log" && pass "a write to a decision register is refused" \
    || fail "refused write, but: $(cat "$tmp/mbpoll.log")"
fi
got="$(regs 16 1)"
[[ "$got" == 1 ]] && pass "the decision register is unchanged" || fail "position 0 decision now '$got'"

# 5. TERM stops the server cleanly; it saw the acknowledgement.
kill -TERM "$serve_pid"
wait "$serve_pid"
rc=$?
pids=()
[[ $rc -eq 0 ]] && pass "the server stopped on TERM with status 0" || fail "the server exited with $rc"
grep -q '^ack 1 2$' "$tmp/serve.log" && pass "the server saw acknowledgement 2 for position 1" \
  || fail "no 'ack 1 2' in: $(grep -v '\[info\]' "$tmp/serve.log")"
if mbpoll_at -r 0 127.0.0.1 >/dev/null; then fail "mbpoll still reads after the stop"; else pass "port closed"; fi

exit $((failures > 0))
