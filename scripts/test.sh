#!/usr/bin/env bash
# Run the test suite against a throwaway PostgreSQL cluster that is removed
# afterwards, also on failure or interruption.
#
#   scripts/test.sh [swift test options...]     e.g. --filter SignetCoreTests
#
# Environment:
#   SIGNET_TEST_PG_PORT  port of the throwaway cluster (default: 54339)
#
# Exports SIGNET_TEST_DATABASE_URL and SIGNET_DATABASE_URL (both that
# cluster's URL) to the tests, then, if they pass, the suites that drive a real
# server: scripts/interop.sh, browser.sh (Chromium and mod_auth_openidc),
# gateways.sh (resource servers: mod_auth_openidc, PyJWT, introspection),
# faults.sh, twonodes.sh and fuzz.sh. Exits non-zero if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

./scripts/setup.sh

test_port=${SIGNET_TEST_PG_PORT:-54339}
test_pg_dir=""

test_pg() {
    # The suite runs its tests in parallel, each with its own schema and pool.
    SIGNET_PG_DIR=$test_pg_dir SIGNET_PG_PORT=$test_port SIGNET_PG_FSYNC=off SIGNET_PG_MAX_CONNECTIONS=1000 \
        SIGNET_PG_STATEMENT_TIMEOUT_SECONDS=120 \
        ./scripts/postgres.sh "$@"
}

# shellcheck disable=SC2317 # invoked by the trap below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $test_pg_dir ]]; then
        step "removing throwaway cluster $test_pg_dir"
        test_pg destroy || warn "could not destroy the cluster in $test_pg_dir"
        rm -rf -- "$test_pg_dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

test_pg_dir=$(mktemp -d /tmp/signet-test-pg.XXXXXX)
if is_root; then
    chown postgres:postgres "$test_pg_dir"
fi
test_pg start
SIGNET_TEST_DATABASE_URL=$(test_pg url)
SIGNET_DATABASE_URL=$SIGNET_TEST_DATABASE_URL
export SIGNET_TEST_DATABASE_URL SIGNET_DATABASE_URL
step "SIGNET_TEST_DATABASE_URL=$SIGNET_TEST_DATABASE_URL"

step "swift build --build-tests"
swift build --build-tests

step "swift test --skip-build $*"
status=0
# The test runner in its own process group, so that an interruption, or the overall limit,
# reaches every process it started (it stops reacting to SIGTERM once a test has run a
# server, so the group gets SIGKILL after a grace period). `wait` returns when a trapped
# signal arrives, unlike a foreground command.
swift_test_limit=${SIGNET_SWIFT_TEST_TIMEOUT_SECONDS:-1200}
setsid -w swift test --skip-build "$@" &
test_group=$!
# shellcheck disable=SC2317 # invoked by the traps below
stop_tests() {
    kill -TERM -- "-$test_group" 2>/dev/null || true
    sleep 5
    kill -KILL -- "-$test_group" 2>/dev/null || true
}
trap 'stop_tests; exit 130' INT
trap 'stop_tests; exit 143' TERM
# The watchdog holds no output open, so nothing waits for it once the tests are done.
# shellcheck disable=SC2016 # expanded by the inner shell
setsid bash -c 'sleep "$1"; kill -KILL -- "-$2"' watchdog "$swift_test_limit" "$test_group" </dev/null >/dev/null 2>&1 &
watchdog=$!
wait "$test_group" || status=$?
kill -- "-$watchdog" 2>/dev/null || true
trap 'exit 130' INT
trap 'exit 143' TERM
if ((status == 137)); then warn "swift test was stopped: it ran over ${swift_test_limit}s"; fi
step "swift test exited with $status"
# Suites against a running `signet serve`, each only if everything before passed.
signet_bin=$(swift build --show-bin-path | tail -n 1)/signet
for suite in interop browser gateways faults twonodes fuzz; do
    ((status == 0)) || break
    step "scripts/$suite.sh (SIGNET_BIN=$signet_bin)"
    SIGNET_BIN=$signet_bin "./scripts/$suite.sh" || status=$?
    step "scripts/$suite.sh exited with $status"
done
exit "$status"
