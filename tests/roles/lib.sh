# lib.sh — runs role steps the way the agent does, against command shims.
#
# A role runs from its bundle as the agent unpacks it: a copy of
# tower/roles/<role>/ under $T/roles with the files its role.yaml includes
# from tower/roles/_shared/ added at the top (role_bundle). Each step gets a
# fresh work dir, an empty output and progress file, and a
# clean environment (env -i): INPUT_* from the given inputs and the role's
# defaults, OVERCLOUD_*, HOME in a temp dir, and a PATH of only
#   tests/roles/shims  (fake kubeadm/kubectl/systemctl/apt-get/...)
#   $NODE/installed    (what the fake apt-get "installed")
#   $T/bin             (symlinks to a short list of harmless tools: sh, sed...,
#                       listed in tests/roles/tools)
# so an unshimmed system command is "not found" instead of touching this
# machine. OC_SYSROOT points the roles' system files (/etc/...) into a temp
# dir. Everything lives under one mktemp -d dir, removed on exit.
#
# Source it from a test; it sets -euo pipefail and an EXIT trap.
set -euo pipefail

ROLES_TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OC_SRC=${OC_SRC:-$(cd "$ROLES_TEST_DIR/../.." && pwd)}
ROLES_DIR=$OC_SRC/tower/roles
SHARED_DIR=$ROLES_DIR/_shared
SHIMS=$ROLES_TEST_DIR/shims
[ -f "$ROLES_DIR/README.md" ] || { echo "FAIL: no tower/roles under OC_SRC=$OC_SRC" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/oc-roles.XXXXXX")
roles_cleanup() {
	local rc=$?
	if [ -n "${MIRROR_PID:-}" ]; then
		kill "$MIRROR_PID" 2>/dev/null || :
		wait "$MIRROR_PID" 2>/dev/null || :
	fi
	if [ $rc -ne 0 ] && [ -n "${RUN_STDOUT:-}" ] && [ -f "$RUN_STDOUT" ]; then
		echo "--- last step ($RUN_ROLE $RUN_STEP, rc=$RUN_RC) stdout:" >&2
		tail -n 30 "$RUN_STDOUT" >&2 || true
		echo "--- stderr:" >&2
		tail -n 30 "$RUN_STDERR" >&2 || true
	fi
	rm -rf "$T"
	exit $rc
}
trap roles_cleanup EXIT

# safe_tools DIR: symlinks in DIR to the harmless tools the roles may use
# (tests/roles/tools); with the shims, the whole PATH a role step gets.
safe_tools() {
	local tool path
	mkdir -p "$1"
	while read -r tool; do
		path=$(type -P "$tool") || continue
		ln -s "$path" "$1/$tool"
	done <"$ROLES_TEST_DIR/tools"
}
safe_tools "$T/bin"
BUNDLES=$T/roles

# serve_mirror DIR [BIND [HOST]]: a real HTTP server (python3's) on BIND
# (127.0.0.1) serving DIR, as a lab's mirror does; its log is $T/http.log,
# roles_cleanup stops it. Sets MIRROR_PID, MIRROR_PORT and BASE
# (http://HOST:PORT, HOST the address nodes reach it at).
serve_mirror() {
	local port="" _
	python3 -m http.server --bind "${2:-127.0.0.1}" 0 --directory "$1" >"$T/http.log" 2>&1 &
	MIRROR_PID=$!
	for _ in $(seq 1 100); do
		port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$T/http.log" | head -n 1)
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || fail "the loopback HTTP server did not start: $(cat "$T/http.log")"
	MIRROR_PORT=$port
	BASE="http://${3:-127.0.0.1}:$port"
}

ok() { printf 'ok: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# new_node NAME: a fresh fake node (sysroot, HOME, installed commands, call
# log); later run_step calls run on it. Its sysroot is a Debian 12 image's
# as far as the fakes look: Debian's apt source and archive key, cgroup v2
# with the memory controller.
new_node() {
	NODE=$T/node-$1
	mkdir -p "$NODE/root" "$NODE/home" "$NODE/installed" "$NODE/state"
	mkdir -p "$NODE/root/etc/apt/sources.list.d" "$NODE/root/usr/share/keyrings" "$NODE/root/sys/fs/cgroup"
	printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		>"$NODE/root/etc/apt/sources.list.d/debian.sources"
	echo "stand-in for Debian's archive keyring" >"$NODE/root/usr/share/keyrings/debian-archive-keyring.gpg"
	echo "cpuset cpu io memory hugetlb pids rdma misc" >"$NODE/root/sys/fs/cgroup/cgroup.controllers"
	: >"$NODE/calls.log"
	RUN_N=0
}

# preinstall CMD...: these shimmed commands are already on the node.
preinstall() {
	local c
	for c; do
		[ -f "$SHIMS/installable/$c" ] || fail "no shim installable/$c"
		printf '#!/bin/sh\nexec "%s" "$@"\n' "$SHIMS/installable/$c" >"$NODE/installed/$c"
		chmod +x "$NODE/installed/$c"
	done
}

# role_yaml_inputs FILE: one line per input: name<TAB>required<TAB>secret<TAB>has_default<TAB>default
role_yaml_inputs() {
	awk '
		function flush() { if (name != "") print name "\t" req "\t" sec "\t" hasdef "\t" def; name = "" }
		/^[a-z]/ { flush(); sect = $1; next }
		sect == "inputs:" && /^  - name:/ { flush(); name = $3; req = "false"; sec = "false"; hasdef = 0; def = ""; next }
		sect == "inputs:" && /^    required:/ { req = $2 }
		sect == "inputs:" && /^    secret:/ { sec = $2 }
		sect == "inputs:" && /^    default:/ {
			v = $0; sub(/^    default: */, "", v)
			if (v ~ /^".*"$/) v = substr(v, 2, length(v) - 2)
			hasdef = 1; def = v
		}
		END { flush() }' "$1"
}

# role_yaml_outputs FILE: declared output names, one a line
role_yaml_outputs() {
	awk '/^[a-z]/ { sect = $1; next } sect == "outputs:" && /^  - name:/ { print $3 }' "$1"
}

# role_yaml_includes FILE: the shared files a role includes, one a line
# (the one-line form the shipped roles use: include: [a, b])
role_yaml_includes() {
	sed -n 's/^include: \[\(.*\)\]$/\1/p' "$1" | tr -d ' ' | tr , '\n' | grep . || true
}

# role_bundle ROLE: prints the dir the role runs from, made on first use: its
# directory plus its includes, as tower/engine/role.c packs its bundle (which
# tests/unit/test_role.c checks). Safe in $(...): the dir is on disk.
role_bundle() {
	local role=$1 dir=$BUNDLES/$1 inc
	if [ ! -d "$dir" ]; then
		[ -f "$ROLES_DIR/$role/role.yaml" ] || fail "$role: no tower/roles/$role/role.yaml"
		mkdir -p "$dir.tmp"
		cp -R "$ROLES_DIR/$role/." "$dir.tmp/"
		for inc in $(role_yaml_includes "$ROLES_DIR/$role/role.yaml"); do
			[ -f "$SHARED_DIR/$inc" ] || fail "$role: include $inc is not in tower/roles/_shared"
			[ ! -e "$dir.tmp/$inc" ] || fail "$role: include $inc is also in tower/roles/$role"
			cp "$SHARED_DIR/$inc" "$dir.tmp/$inc"
		done
		mv "$dir.tmp" "$dir"
	fi
	printf '%s\n' "$dir"
}

# role_yaml_script FILE STEP: the script file of a step
role_yaml_script() {
	awk -v step="  $2:" '
		/^[a-z]/ { sect = $1; next }
		sect == "steps:" && $0 == step { on = 1; next }
		sect == "steps:" && /^  [a-z]/ { on = 0 }
		on && /^    script:/ { print $2; exit }' "$1"
}

# check_role_yaml ROLE: the role.yaml uses known keys only, its name is the
# directory's, archs are known, each step's script exists and is executable,
# every file its scripts source is in its bundle, and its directory holds
# no copy of a shared file.
check_role_yaml() {
	local role=$1 y=$ROLES_DIR/$1/role.yaml bad rdir
	[ -f "$y" ] || fail "$role: no role.yaml"
	bad=$(awk '
		/^[[:space:]]*(#|$)/ { next }
		/^include: / && $0 !~ /^include: \[[A-Za-z0-9_][A-Za-z0-9._-]*(, [A-Za-z0-9_][A-Za-z0-9._-]*)*\]$/ {
			print FILENAME ":" NR ": include must be one line: include: [a, b]"; next }
		/^[a-z]/ { split($0, kv, ":"); top = kv[1]
			if (top !~ /^(name|description|archs|timeout|retries|include|inputs|outputs|steps)$/) print FILENAME ":" NR ": unknown key " top
			next }
		top == "inputs" && /^  - name: [a-z0-9_]+$/ { next }
		top == "inputs" && /^    (required|secret): (true|false)$/ { next }
		top == "inputs" && /^    default: / { next }
		top == "outputs" && /^  - name: [a-z0-9_]+$/ { next }
		top == "outputs" && /^    secret: (true|false)$/ { next }
		top == "steps" && /^  [a-z0-9_-]+:$/ { next }
		top == "steps" && /^    (script: [A-Za-z0-9._-]+|timeout: [0-9]+[smh]|retries: [0-9]+)$/ { next }
		{ print FILENAME ":" NR ": unexpected line: " $0 }' "$y")
	[ -z "$bad" ] || fail "$bad"
	grep -qx "name: $role" "$y" || fail "$y: name is not $role"
	local archs
	archs=$(sed -n 's/^archs: \[\(.*\)\]$/\1/p' "$y" | tr -d ' ' | tr , '\n')
	[ -n "$archs" ] || fail "$y: no archs"
	local a
	for a in $archs; do
		case $a in x86_64 | aarch64 | armv7) ;; *) fail "$y: unknown arch $a" ;; esac
	done
	local step script f sourced shared
	for step in apply remove; do
		script=$(role_yaml_script "$y" "$step")
		[ -n "$script" ] || fail "$y: no $step step"
		[ -x "$ROLES_DIR/$role/$script" ] || fail "$role/$script is not executable"
		head -n 1 "$ROLES_DIR/$role/$script" | grep -qx '#!/bin/sh' || fail "$role/$script is not a /bin/sh script"
		grep -qx 'set -eu' "$ROLES_DIR/$role/$script" || fail "$role/$script has no 'set -eu'"
	done
	rdir=$(role_bundle "$role")
	for f in "$rdir"/apply "$rdir"/remove "$rdir"/*.sh; do
		[ -f "$f" ] || continue
		for sourced in $(sed -n 's|^\. "${OVERCLOUD_ROLE_DIR:-$(dirname "$0")}/\([^"]*\)"$|\1|p' "$f"); do
			[ -f "$rdir/$sourced" ] ||
				fail "$role: $(basename "$f") sources $sourced, which is neither in the role nor included"
		done
	done
	for f in "$ROLES_DIR/$role"/*; do
		for shared in "$SHARED_DIR"/*; do
			! cmp -s "$f" "$shared" ||
				fail "tower/roles/$role/$(basename "$f") is a copy of _shared/$(basename "$shared"): include it instead"
		done
	done
	if command -v shellcheck >/dev/null 2>&1; then
		(cd "$rdir" && shellcheck -x -s sh apply remove ./*.sh) || fail "$role: shellcheck"
	fi
	ok "$role: role.yaml well-formed, steps executable${archs:+, archs ${archs//$'\n'/ }}"
}

# RUN_WRAP: a command run_step puts in front of the step; empty, the step
# runs as the agent runs it. With OC_ROLE_TRACE=DIR (test_airgap) every
# step runs under strace, which writes each process's connect() calls to
# DIR/<role>.<node>.<n>.<pid>.
RUN_WRAP=()

# run_step ROLE STEP [name=value]...: runs the step on the current node.
# Lower-case names are inputs; SHIM_* names are passed to the shims.
# Sets RUN_RC, RUN_STDOUT, RUN_STDERR, RUN_OUTPUT, RUN_PROGRESS, RUN_WORK,
# RUN_SECRETS (values of secret inputs) and RUN_CALLS_FROM (log line).
run_step() {
	RUN_ROLE=$1 RUN_STEP=$2
	shift 2
	local rdir y=$ROLES_DIR/$RUN_ROLE/role.yaml
	rdir=$(role_bundle "$RUN_ROLE")
	RUN_N=$((RUN_N + 1))
	local dir=$NODE/run$RUN_N
	mkdir -p "$dir/work"
	RUN_WORK=$dir/work RUN_OUTPUT=$dir/output RUN_PROGRESS=$dir/progress
	RUN_STDOUT=$dir/stdout RUN_STDERR=$dir/stderr
	: >"$RUN_OUTPUT"
	: >"$RUN_PROGRESS"
	RUN_CALLS_FROM=$(($(wc -l <"$NODE/calls.log") + 1))
	local -a envv=(
		"PATH=$SHIMS:$NODE/installed:$T/bin" "HOME=$NODE/home" "LANG=C.UTF-8"
		"OVERCLOUD_TASK_ID=t-$RUN_N" "OVERCLOUD_ROLE=$RUN_ROLE" "OVERCLOUD_STEP=$RUN_STEP"
		"OVERCLOUD_NODE_ID=n-test" "OVERCLOUD_NODE_IP=${NODE_IP:-10.0.0.5}"
		"OVERCLOUD_ROLE_DIR=$rdir" "OVERCLOUD_WORKDIR=$RUN_WORK"
		"OVERCLOUD_OUTPUT=$RUN_OUTPUT" "OVERCLOUD_PROGRESS=$RUN_PROGRESS"
		"SHIM_LOG=$NODE/calls.log" "SHIM_STATE=$NODE/state" "SHIM_INSTALLED=$NODE/installed"
		"OC_SYSROOT=$NODE/root"
	)
	local -A given=()
	local kv k
	for kv; do
		k=${kv%%=*}
		if [[ $k == SHIM_* ]]; then envv+=("$kv"); else given[$k]=${kv#*=}; fi
	done
	RUN_SECRETS=()
	local name req sec hasdef def v
	while IFS=$'\t' read -r name req sec hasdef def; do
		if [[ -v given[$name] ]]; then
			v=${given[$name]}
			unset "given[$name]"
		elif [ "$hasdef" = 1 ]; then
			v=$def
		elif [ "$req" = true ]; then
			fail "$RUN_ROLE: required input $name not given"
		else
			v=""
		fi
		envv+=("INPUT_${name^^}=$v")
		[ "$sec" = true ] && [ -n "$v" ] && RUN_SECRETS+=("$v")
	done < <(role_yaml_inputs "$y")
	[ ${#given[@]} -eq 0 ] || fail "$RUN_ROLE: undeclared inputs: ${!given[*]}"
	local script
	script=$(role_yaml_script "$y" "$RUN_STEP")
	[ -n "$script" ] || fail "$RUN_ROLE has no step $RUN_STEP"
	RUN_RC=0
	if [ -n "${OC_ROLE_TRACE:-}" ]; then
		RUN_WRAP=(strace -f -ff --seccomp-bpf -qq -e trace=connect
			-o "$OC_ROLE_TRACE/$RUN_ROLE.$(basename "$NODE").$RUN_N")
	fi
	(cd "$RUN_WORK" && "${RUN_WRAP[@]}" env -i "${envv[@]}" "$rdir/$script" >"$RUN_STDOUT" 2>"$RUN_STDERR") || RUN_RC=$?
}

# calls: the shim calls of the last run_step, with temp paths written as
# <work>, <home>, <root> and <roles> (where the roles' bundles are).
re_esc() { printf '%s' "$1" | sed 's/[][\.*^$#/]/\\&/g'; }
calls() {
	tail -n "+$RUN_CALLS_FROM" "$NODE/calls.log" | sed \
		-e "s/$(re_esc "$NODE")\/run[0-9]*\/work/<work>/g" \
		-e "s/$(re_esc "$NODE/home")/<home>/g" \
		-e "s/$(re_esc "$NODE/root")/<root>/g" \
		-e "s/$(re_esc "$BUNDLES")/<roles>/g"
}

# expect_rc_ok WHAT: the last step succeeded
expect_rc_ok() {
	[ "$RUN_RC" -eq 0 ] || fail "$1: exit $RUN_RC; stderr: $(cat "$RUN_STDERR")"
}

# expect_failure WHAT MESSAGE: the last step failed and said MESSAGE on stderr
expect_failure() {
	[ "$RUN_RC" -ne 0 ] || fail "$1: exited 0, expected a failure"
	grep -qF -- "$2" "$RUN_STDERR" || fail "$1: stderr lacks '$2': $(cat "$RUN_STDERR")"
	ok "$1: exits $RUN_RC with '$2'"
}

# expect_calls WHAT <<EOF ... EOF: the last step's shim calls, exactly, in order
expect_calls() {
	local want got
	want=$(cat)
	got=$(calls)
	if [ "$want" != "$got" ]; then
		diff -u <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2 || true
		fail "$1: shim calls differ (- expected, + got)"
	fi
	ok "$1: $(printf '%s\n' "$got" | grep -c .) shim calls as expected"
}

# parse_outputs: reads $RUN_OUTPUT (key=value and key<<DELIM heredocs) into
# the associative array OUT, refusing what the agent refuses: bad lines,
# undeclared keys, unterminated heredocs.
declare -gA OUT=()
parse_outputs() {
	local declared line n=0 key="" delim="" val="" first=0
	declared=" $(role_yaml_outputs "$ROLES_DIR/$RUN_ROLE/role.yaml" | tr '\n' ' ') "
	OUT=()
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		if [ -n "$delim" ]; then
			if [ "$line" = "$delim" ]; then
				OUT[$key]=$val
				delim=""
			elif [ $first = 1 ]; then
				val=$line
				first=0
			else
				val+=$'\n'$line
			fi
			continue
		fi
		if [[ $line =~ ^([a-z0-9_]{1,64})\<\<(.+)$ ]]; then
			key=${BASH_REMATCH[1]} delim=${BASH_REMATCH[2]} val="" first=1
		elif [[ $line =~ ^([a-z0-9_]{1,64})=(.*)$ ]]; then
			key=${BASH_REMATCH[1]}
			OUT[$key]=${BASH_REMATCH[2]}
		else
			fail "$RUN_ROLE $RUN_STEP: output line $n is neither key=value nor key<<DELIM"
		fi
		[[ $declared == *" $key "* ]] || fail "$RUN_ROLE $RUN_STEP: output line $n: undeclared key $key"
	done <"$RUN_OUTPUT"
	[ -z "$delim" ] || fail "$RUN_ROLE $RUN_STEP: heredoc $key<<$delim never ends"
}

# expect_output KEY VALUE
expect_output() {
	[[ -v OUT[$1] ]] || fail "$RUN_ROLE $RUN_STEP: no output $1 (outputs: ${!OUT[*]})"
	[ "${OUT[$1]}" = "$2" ] || fail "$RUN_ROLE $RUN_STEP: output $1 is '${OUT[$1]}', expected '$2'"
}

# expect_progress WHAT [final]: progress lines "PERCENT message", at least
# two, percent strictly increasing within 0..100; with final, the last is 100.
expect_progress() {
	local prev=-1 n=0 p msg
	while read -r p msg; do
		[[ $p =~ ^[0-9]+$ ]] || fail "$1: bad progress line '$p $msg'"
		[ -n "$msg" ] || fail "$1: progress $p has no message"
		[ "$p" -gt "$prev" ] || fail "$1: progress went from $prev to $p"
		[ "$p" -le 100 ] || fail "$1: progress $p over 100"
		prev=$p
		n=$((n + 1))
	done <"$RUN_PROGRESS"
	[ $n -ge 2 ] || fail "$1: only $n progress lines"
	if [ "${2:-}" = final ]; then
		[ "$prev" = 100 ] || fail "$1: last progress is $prev, not 100"
	fi
	ok "$1: $n progress lines, increasing${2:+, ending at 100}"
}

# expect_no_secrets WHAT [VALUE...]: no secret input of the last step, nor
# any VALUE, appears in its stdout, stderr or progress; for multi-line
# secrets each line of 24+ characters is checked too.
expect_no_secrets() {
	local what=$1 s line f text
	shift
	for f in "$RUN_STDOUT" "$RUN_STDERR" "$RUN_PROGRESS"; do
		text=$(cat "$f")
		for s in "${RUN_SECRETS[@]}" "$@"; do
			[[ $text != *"$s"* ]] || fail "$what: a secret appears in $(basename "$f")"
			while IFS= read -r line; do
				[ ${#line} -lt 24 ] && continue
				[[ $text != *"$line"* ]] || fail "$what: a line of a secret appears in $(basename "$f")"
			done <<<"$s"
		done
	done
	ok "$what: no secret in stdout, stderr or progress"
}
