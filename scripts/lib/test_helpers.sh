# Shared by the script tests (scripts/*_test.sh): sourced, not run.
# pass/fail count checks, abort stops the test, indent shows captured output,
# tcp_open tells whether something listens on 127.0.0.1:PORT.
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
abort() { fail "$*"; exit 1; }
indent() { local l; while IFS= read -r l; do echo "  $l"; done <<<"$1"; }
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
