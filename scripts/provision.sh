#!/usr/bin/env bash
# Makes sure the two Temporal servers Herald runs on exist, building or fetching
# them only when missing. Cached outside the repo so every clone reuses them.
#   scripts/provision.sh          both servers
#   scripts/provision.sh cli      the Temporal CLI (dev server + Web UI) only
set -euo pipefail

CACHE="${HERALD_CACHE_DIR:-$HOME/.cache/herald}"
CLI_VERSION=v1.5.1
TEST_SERVER_VERSION=1.38.0
HERE="$(cd "$(dirname "$0")" && pwd)"

say() { echo "[provision] $*" >&2; }
die() { echo "[provision] ERROR: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"; }

provision_cli() {
  local bin="$CACHE/temporal-cli-$CLI_VERSION/temporal"
  if [ -x "$bin" ]; then return; fi
  need go "it builds the Temporal CLI (dev server). Install Go 1.23+ and retry."
  say "building Temporal CLI $CLI_VERSION with 'go install' (first run only, several minutes on 2 cores)..."
  mkdir -p "$(dirname "$bin")"
  local log="$CACHE/temporal-cli-$CLI_VERSION.build.log"
  GOBIN="$(dirname "$bin")" go install -v "github.com/temporalio/cli/cmd/temporal@$CLI_VERSION" >"$log" 2>&1 &
  local pid=$! n=0
  # go install -v prints one package per line as it compiles: show that as progress.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    n=$(wc -l <"$log")
    say "  ...still building ($n lines of build output so far, log: $log)"
  done
  wait "$pid" || die "building the Temporal CLI failed; see $log"
  [ -x "$bin" ] || die "go install finished but $bin is missing"
  say "Temporal CLI ready: $bin"
}

# Herald finds the servers through these stable names; the versions live here only.
link() { ln -sfn "$1" "$CACHE/$2"; }

provision_test_server() {
  local dir="$CACHE/test-server-$TEST_SERVER_VERSION"
  local launcher="$dir/temporal-test-server"
  if [ -x "$launcher" ]; then return; fi
  need java "it runs Temporal's time-skipping test server. Install a JDK 17+ and retry."
  need mvn "it fetches Temporal's time-skipping test server from Maven Central. Install Maven and retry."
  say "fetching io.temporal:temporal-test-server:$TEST_SERVER_VERSION and its runtime classpath with Maven..."
  mvn -B -q -f "$HERE/test-server/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$dir/lib" >&2 \
    || die "Maven could not fetch the test server (see the output above)"
  # The SDK waits only ~5 s for the server to answer: a fast-starting JVM
  # (C1 only, serial GC) plus a class-data-sharing archive keeps start near 1 s.
  local jvm="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
  say "recording a class-data-sharing archive for fast JVM start..."
  rm -f "$dir/classes.jsa"
  java $jvm -XX:ArchiveClassesAtExit="$dir/classes.jsa" \
    -cp "$dir/lib/*" io.temporal.testserver.TestServer 0 >/dev/null 2>&1 &
  local pid=$!
  sleep 5
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -s "$dir/classes.jsa" ]; then jvm="$jvm -Xshare:auto -XX:SharedArchiveFile=$dir/classes.jsa"; fi
  cat >"$launcher" <<LAUNCHER
#!/bin/sh
# Started by TestWorkflowEnvironment.createTimeSkipping with the port as argument.
exec java $jvm -cp "$dir/lib/*" io.temporal.testserver.TestServer "\$@"
LAUNCHER
  chmod +x "$launcher"
  say "time-skipping test server ready: $launcher"
}

case "${1:-all}" in
  cli) provision_cli; link "$CACHE/temporal-cli-$CLI_VERSION/temporal" temporal ;;
  test-server) provision_test_server; link "$CACHE/test-server-$TEST_SERVER_VERSION/temporal-test-server" temporal-test-server ;;
  all) "$0" cli; "$0" test-server ;;
  *) die "unknown target '$1' (use: cli, test-server, all)" ;;
esac
