#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages overcloud needs to build and test.
# Idempotent: quiet and quick when everything is already there. Never prompts.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmbedtls-dev libevent-dev libmsgpack-dev libsqlite3-dev libjansson-dev
  libcurl4-openssl-dev libfyaml-dev libcmocka-dev
  iproute2 curl jq procps psmisc file sqlite3 openssl xxd bsdutils
  cloud-init python3 python3-jsonschema python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
