# Shared by the script tests (scripts/*_test.sh): sourced, not run.
# pass/fail count checks, abort stops the test, indent shows captured output,
# tcp_open tells whether something listens on 127.0.0.1:PORT, free_port
# picks one where nothing does, start_watchdog
# and stop_watchdog bound the test's run time, test_workspace NAME gives a
# test its temp dir and the EXIT trap that cleans up after it.
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
abort() { fail "$*"; exit 1; }
indent() { local l; while IFS= read -r l; do echo "  $l"; done <<<"$1"; }
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port: a port in 30000-38999 on which nothing listens on 127.0.0.1.
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((30000 + RANDOM % 9000))
    tcp_open "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# start_watchdog DEFAULT_S: after $OVOFLOW_TEST_BUDGET_S seconds (else
# DEFAULT_S; keep it under the CTest timeout) send this shell TERM, so that its
# TERM trap fails the test and its EXIT trap stops the servers it started.
# They run detached: a test killed by CTest would leave them running and slow
# every test after it. The trap runs once the current command (each bounded
# by a timeout of its own) returns. Call stop_watchdog from the EXIT trap.
start_watchdog() {
  local budget="${OVOFLOW_TEST_BUDGET_S:-$1}"
  [[ "$budget" =~ ^[1-9][0-9]*$ ]] \
    || abort "OVOFLOW_TEST_BUDGET_S='$budget' is not a positive number of seconds"
  # Killing the watchdog kills its sleep too, which would otherwise hold
  # CTest's output pipe open until the budget runs out.
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$budget" & sleeper=$!
    wait "$sleeper" && echo "over the test's budget of $budget s; stopping" && kill -TERM $$
  ) &
  watchdog_pid=$!
}
stop_watchdog() { [[ -n "${watchdog_pid:-}" ]] && kill "$watchdog_pid" 2>/dev/null; }

# test_workspace NAME: makes the temp dir $tmp, and sets the traps that on
# exit stop the watchdog and every process in $pids, show the last lines of
# $tmp/*.log when the test failed, remove $tmp (also on failure) and report
# "NAME: all checks passed" or "NAME: FAILED", with the run time.
test_workspace() {
  test_name="$1"
  test_started=$SECONDS
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/ovoflow-$test_name.XXXXXX")" || abort "mktemp failed"
  pids=()
  trap test_workspace_cleanup EXIT
  trap 'abort "interrupted (a signal, or over the budget)"' INT TERM
}
# shellcheck disable=SC2317  # called by the EXIT trap
test_workspace_cleanup() {
  local rc=$? p f
  stop_watchdog
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [[ $rc -ne 0 || $failures -ne 0 ]]; then
    for f in "$tmp"/*.log; do [[ -f "$f" ]] && { echo "---- last lines of $f"; tail -n 20 "$f"; }; done
    rm -rf "$tmp"
    echo "$test_name: FAILED ($failures failure(s)) after $((SECONDS - test_started)) s"
    exit 1
  fi
  rm -rf "$tmp"
  echo "$test_name: all checks passed in $((SECONDS - test_started)) s"
}
