#!/usr/bin/env bash
# Makes sure the Temporal programs Herald runs on exist, building or fetching
# them only when missing. Cached outside the repo so every clone reuses them.
#   scripts/provision.sh              the CLI, the test server and the Temporal server (what npm test needs)
#   scripts/provision.sh cli          the Temporal CLI (dev server + Web UI) only
#   scripts/provision.sh test-server  Temporal's time-skipping test server (Java) only
#   scripts/provision.sh cluster      a real cluster (npm run cluster): server, sql tool + schema, Web UI server
set -euo pipefail

CACHE="${HERALD_CACHE_DIR:-$HOME/.cache/herald}"
CLI_VERSION=v1.5.1
TEST_SERVER_VERSION=1.38.0
# The server version the CLI embeds, so the cluster and the dev server speak the same Temporal.
SERVER_VERSION=v1.29.1
UI_SERVER_VERSION=v2.42.1
HERE="$(cd "$(dirname "$0")" && pwd)"

say() { echo "[provision] $*" >&2; }
die() { echo "[provision] ERROR: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"; }

# go_build <package@version> <dir> <what>: 'go install' into <dir>, printing progress.
go_build() {
  local pkg="$1" dir="$2" what="$3"
  need go "it builds $what. Install Go 1.23+ and retry."
  say "building $what ($pkg) with 'go install' (first run only, minutes on 2 cores)..."
  mkdir -p "$dir"
  local log="$dir.build.log"
  GOBIN="$dir" go install -v "$pkg" >"$log" 2>&1 &
  local pid=$! n=0
  # go install -v prints one package per line as it compiles: show that as progress.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    n=$(wc -l <"$log")
    say "  ...still building $what ($n lines of build output so far, log: $log)"
  done
  wait "$pid" || die "building $what failed; see $log"
}

provision_cli() {
  local bin="$CACHE/temporal-cli-$CLI_VERSION/temporal"
  if [ -x "$bin" ]; then return; fi
  go_build "github.com/temporalio/cli/cmd/temporal@$CLI_VERSION" "$(dirname "$bin")" "the Temporal CLI $CLI_VERSION (dev server)"
  [ -x "$bin" ] || die "go install finished but $bin is missing"
  say "Temporal CLI ready: $bin"
}

# The Temporal server (cmd/server: frontend, history, matching, worker in one binary or
# one per process) and its SQL schema tool with the schema files it applies.
provision_server() {
  local dir="$CACHE/temporal-server-$SERVER_VERSION"
  if [ ! -x "$dir/server" ]; then
    go_build "go.temporal.io/server/cmd/server@$SERVER_VERSION" "$dir" "the Temporal server $SERVER_VERSION"
    [ -x "$dir/server" ] || die "go install finished but $dir/server is missing"
  fi
  if [ ! -x "$dir/temporal-sql-tool" ]; then
    go_build "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION" "$dir/sql-tool" "Temporal's SQL schema tool $SERVER_VERSION"
    mv "$dir/sql-tool/sql" "$dir/temporal-sql-tool" || die "go install finished but $dir/sql-tool/sql is missing"
    rmdir "$dir/sql-tool"
  fi
  if [ ! -d "$dir/schema/postgresql" ]; then
    local src
    src="$(go env GOMODCACHE)/go.temporal.io/server@$SERVER_VERSION/schema"
    [ -d "$src/postgresql" ] || GOFLAGS=-mod=mod go mod download "go.temporal.io/server@$SERVER_VERSION" >&2 \
      || die "could not download go.temporal.io/server@$SERVER_VERSION for its schema files"
    [ -d "$src/postgresql" ] || die "the schema files are missing from $src"
    mkdir -p "$dir/schema" && cp -R "$src/postgresql" "$dir/schema/" && chmod -R u+w "$dir/schema"
  fi
  say "Temporal server ready: $dir (server, temporal-sql-tool, schema/)"
}

# The Temporal Web UI as its own server (the cluster's; the dev server embeds its own).
provision_ui_server() {
  local dir="$CACHE/temporal-ui-server-$UI_SERVER_VERSION"
  if [ -x "$dir/server" ]; then return; fi
  go_build "github.com/temporalio/ui-server/v2/cmd/server@$UI_SERVER_VERSION" "$dir" "the Temporal Web UI server $UI_SERVER_VERSION"
  [ -x "$dir/server" ] || die "go install finished but $dir/server is missing"
  say "Temporal Web UI server ready: $dir/server"
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
  server) provision_server; link "$CACHE/temporal-server-$SERVER_VERSION" temporal-server ;;
  ui-server) provision_ui_server; link "$CACHE/temporal-ui-server-$UI_SERVER_VERSION/server" temporal-ui-server ;;
  cluster) "$0" server; "$0" ui-server ;;
  all) "$0" cli; "$0" test-server; "$0" server ;;
  *) die "unknown target '$1' (use: cli, test-server, server, ui-server, cluster, all)" ;;
esac
