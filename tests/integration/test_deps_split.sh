#!/usr/bin/env bash
# `make demo` installs only what the demo runs; `make test` installs the rest
# (issue 17 item 14): cloud-init on a workstation acts at its next boot, and
# qemu-user-static, lintian, clang and the cross compilers are test tooling.
set -euo pipefail
REPO=${OC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; exit 1; }

demo=$(bash "$REPO/packaging/deps.sh" demo --list)
test_set=$(bash "$REPO/packaging/deps.sh" test --list)
[ -n "$demo" ] || fail "deps.sh demo --list printed nothing"
for p in cloud-init qemu-user-static lintian clang gcc-aarch64-linux-gnu \
	gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross debootstrap; do
	grep -qx "$p" <<<"$demo" && fail "the demo's package set installs $p"
	grep -qx "$p" <<<"$test_set" || fail "the test set lacks $p"
done
# The test set is a superset of the demo's.
while read -r p; do
	grep -qx "$p" <<<"$test_set" || fail "the test set lacks the demo's $p"
done <<<"$demo"
echo "ok: deps.sh demo has no test tooling; test has all of it"

# What make demo and make test would run (make -n prints, runs nothing).
demo_plan=$(make -n -C "$REPO" demo 2>/dev/null)
grep -q 'deps.sh demo' <<<"$demo_plan" || fail "make demo does not install the demo set"
grep -q 'deps.sh test' <<<"$demo_plan" && fail "make demo installs the test set"
test_plan=$(make -n -C "$REPO" test 2>/dev/null)
grep -q 'deps.sh test' <<<"$test_plan" || fail "make test does not install the test set"
echo "ok: make demo installs the demo set only, make test the test set"
