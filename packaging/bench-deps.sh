#!/usr/bin/env bash
# Installs, with apt-get, what `make bench` needs beyond the build and the
# tests: Ansible and OpenSSH's server for the peer comparison. Kept apart
# from deps.sh so `make test` does not pull them. Idempotent, never prompts.
set -euo pipefail

packages=(ansible-core openssh-server openssh-client)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bench-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive
# A mirror half-synced for another architecture must not stop the install.
$SUDO apt-get update -qq || echo "bench-deps: apt-get update reported errors, installing anyway"
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bench-deps: done"
