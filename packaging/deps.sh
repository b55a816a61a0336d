#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages overcloud needs: `deps.sh demo`
# (the default; what `make build` and `make demo` need to build and run the
# tower and agents), `deps.sh test` (that plus what only the tests, the
# cross-built agents and the packages need: clang, cloud-init, qemu-user-static,
# lintian, the cross compilers, debootstrap...; a workstation running the demo
# never gets cloud-init, which would act at its next boot), or `deps.sh bench`
# (what `make bench` needs beyond those: Ansible and OpenSSH's server for the
# peer comparison). Idempotent: quiet and quick when everything is already
# there. Never prompts. `deps.sh SET --list` prints a set without installing.
set -euo pipefail

tag=deps
update_may_fail=false
# What the demo builds and runs: compilers and libraries (cmocka too: the
# build tree also builds the unit tests), ip for the local provider's network
# namespaces, jq and curl for scripts/demo.sh. libpq-dev: the store's
# PostgreSQL backend (tower serve --store postgresql://...).
demo_packages=(
  build-essential cmake pkg-config
  libmbedtls-dev libevent-dev libmsgpack-dev libsqlite3-dev libpq-dev libjansson-dev
  libcurl4-openssl-dev libssl-dev libfyaml-dev libcmocka-dev libvirt-dev libisofs-dev
  iproute2 curl jq procps
)
case "${1:-demo}" in
build|demo)
packages=("${demo_packages[@]}")
;;
test)
tag=test-deps
packages=(
  "${demo_packages[@]}"
  clang libclang-rt-14-dev
  psmisc file sqlite3 openssl xxd bsdutils
  cloud-init python3 python3-jsonschema python3-yaml strace
  prometheus apache2-utils
  gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross
  libc6-dev-armhf-cross qemu-user-static
  dpkg-dev lintian systemd adduser debootstrap
  chromium
  postgresql
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
  dnsmasq-base xorriso genisoimage iptables
)
;;
bench)
tag=bench-deps
packages=(ansible-core openssh-server openssh-client)
# A mirror half-synced for another architecture must not stop the install.
update_may_fail=true
;;
*)
echo "deps: unknown package set \"$1\" (demo, test or bench)" >&2
exit 2
;;
esac

# Test tools from the npm registry (schema validation of the roles' objects,
# the console's browser tests): each tests/ dir with a package.json gets its
# locked packages with `npm ci`, again only when the lock file changed.
npm_dirs=()
if [ "$tag" = test-deps ]; then
  repo=$(cd "$(dirname "$0")/.." && pwd)
  while IFS= read -r lock; do
    npm_dirs+=("$(dirname "$lock")")
  done < <(find "$repo/tests" -name package-lock.json -not -path '*/node_modules/*' | sort)
  [ ${#npm_dirs[@]} -eq 0 ] || command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

# `deps.sh SET --list` prints the set, one package a line, and installs nothing.
if [ "${2:-}" = --list ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "$tag: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get update -qq; then
    $update_may_fail || exit 1
    echo "$tag: apt-get update reported errors, installing anyway"
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "$tag: done"
fi

for d in "${npm_dirs[@]}"; do
  stamp="$d/node_modules/.overcloud-lock.sha256"
  want=$(sha256sum <"$d/package-lock.json" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && continue
  echo "$tag: npm ci in ${d#"$repo"/}"
  (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
done
