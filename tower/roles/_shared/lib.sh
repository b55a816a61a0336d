# lib.sh — helpers every overcloud role script sources: progress lines,
# outputs (key=value and heredocs), errors, input checks, bounded polling,
# a kubeconfig from a secret input. Kept once here in _shared; every role
# lists it under include: in its role.yaml and gets it at its bundle's top.
# shellcheck shell=sh

# OC_SYSROOT is a test hook: a prefix for every system file a role writes or
# deletes (/etc/..., /var/lib/...). The agent passes a clean environment, so
# on a real node it is empty and paths are the real ones.
# shellcheck disable=SC2034 # used by the scripts that source this file
ROOT="${OC_SYSROOT:-}"

log() {
	printf '%s\n' "$*"
}

warn() {
	printf 'warning: %s\n' "$*" >&2
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# progress PERCENT MESSAGE: one line for the tower, one for the log.
progress() {
	printf '%s %s\n' "$1" "$2" >>"$OVERCLOUD_PROGRESS"
	printf '==> [%3s%%] %s\n' "$1" "$2"
}

# Checks the variables the agent always sets.
need_agent_env() {
	[ -n "${OVERCLOUD_OUTPUT:-}" ] || die "OVERCLOUD_OUTPUT is not set (run this through the overcloud agent)"
	[ -n "${OVERCLOUD_PROGRESS:-}" ] || die "OVERCLOUD_PROGRESS is not set (run this through the overcloud agent)"
	[ -n "${OVERCLOUD_WORKDIR:-}" ] || die "OVERCLOUD_WORKDIR is not set (run this through the overcloud agent)"
	[ -d "$OVERCLOUD_WORKDIR" ] || die "OVERCLOUD_WORKDIR $OVERCLOUD_WORKDIR is not a directory"
	# shellcheck disable=SC2034 # used by the scripts that source this file
	ROLE_DIR="${OVERCLOUD_ROLE_DIR:-$(dirname "$0")}"
	WORK="$OVERCLOUD_WORKDIR"
}

# output KEY VALUE: a single-line output.
output() {
	case $2 in
	*'
'*) die "output $1 spans lines; use output_file" ;;
	esac
	printf '%s=%s\n' "$1" "$2" >>"$OVERCLOUD_OUTPUT"
}

# output_file KEY FILE: a multi-line output as a heredoc. The value is the
# file's lines; the delimiter is checked not to occur in them.
output_file() {
	delim="EOF_OVERCLOUD_$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')"
	if grep -qxF "$delim" "$2"; then
		die "output $1 contains its own delimiter line"
	fi
	{
		printf '%s<<%s\n' "$1" "$delim"
		cat "$2"
		[ -z "$(tail -c 1 "$2")" ] || printf '\n'
		printf '%s\n' "$delim"
	} >>"$OVERCLOUD_OUTPUT"
}

is_uint() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	esac
	return 0
}

is_ipv4() {
	printf '%s\n' "$1" | grep -Eqx '((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])'
}

is_cidr4() {
	case $1 in
	*/*) is_ipv4 "${1%/*}" && is_uint "${1#*/}" && [ "${1#*/}" -le 32 ] ;;
	*) return 1 ;;
	esac
}

# is_bool VALUE: "true" or "false".
is_bool() {
	[ "$1" = true ] || [ "$1" = false ]
}

# poll SECONDS INTERVAL CMD...: runs CMD until it succeeds, at most
# SECONDS/INTERVAL (at least 1) times with INTERVAL seconds between tries.
poll() {
	poll_tries=$(($1 / $2))
	[ "$poll_tries" -ge 1 ] || poll_tries=1
	poll_interval=$2
	shift 2
	poll_i=1
	while :; do
		if "$@"; then
			return 0
		fi
		[ "$poll_i" -lt "$poll_tries" ] || return 1
		poll_i=$((poll_i + 1))
		sleep "$poll_interval"
	done
}

# use_kubeconfig CONTENT: writes a kubeconfig given as an input to the work
# dir (0600) and exports KUBECONFIG. The content never reaches the log.
use_kubeconfig() {
	(umask 077 && printf '%s\n' "$1" >"$WORK/kubeconfig")
	KUBECONFIG="$WORK/kubeconfig"
	export KUBECONFIG
}
