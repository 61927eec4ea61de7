#!/usr/bin/env bash
# Runs one libFuzzer harness for SECONDS on the committed corpus DIR (read
# only: what it finds goes to a temp dir, removed afterwards), prints the
# executions and coverage, and fails on a crash, a leak or a timeout after
# printing the input (base64) that caused it.
# Usage: run_fuzzer.sh FUZZER CORPUS_DIR SECONDS
set -uo pipefail
fuzzer="${1:?fuzzer}" corpus="${2:?corpus dir}" seconds="${3:?seconds}"
work="$(mktemp -d "${TMPDIR:-/tmp}/ovoflow-fuzz.XXXXXX")" || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new"
"$fuzzer" "$work/new" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" >"$work/log" 2>&1
rc=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/log"
for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
  [[ -f "$a" ]] || continue
  echo "FOUND $(basename "$a") (base64 below; the fuzzer's report follows)"
  base64 -w 0 "$a"; echo
done
if [[ $rc -ne 0 ]]; then
  tail -n 60 "$work/log"
  echo "$(basename "$fuzzer"): FAILED (exit $rc)"
  exit 1
fi
echo "$(basename "$fuzzer"): no crash in $seconds s"
