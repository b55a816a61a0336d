# _shim.sh — sourced by every fake command here. Appends the call to
# $SHIM_LOG as one line: the command name, then each argument separated by a
# space, shell-quoted when it holds anything but [A-Za-z0-9_@%+=:,./-]
# (newlines inside an argument are written as \n). Then, when the line starts
# with $SHIM_FAIL, prints an error and exits ${SHIM_FAIL_RC:-1}.
# For kubectl, the fake cluster of _cluster.sh (built by the fake kubeadm)
# answers the node and control-plane calls first.
# Environment: SHIM_LOG (required), SHIM_STATE (dir for counters),
# SHIM_INSTALLED (dir on PATH where apt-get "installs"), OC_SYSROOT (fake /).
# shellcheck shell=sh

: "${SHIM_LOG:?SHIM_LOG is not set: shims only run under tests/roles/lib.sh}"
: "${OC_SYSROOT:?OC_SYSROOT is not set: shims only run under tests/roles/lib.sh}"
SHIM_NAME=${0##*/}
# shellcheck disable=SC2034 # used by the shims that source this file
SHIM_DIR=${0%/*}

SHIM_LINE=$SHIM_NAME
for shim_arg in "$@"; do
	case $shim_arg in
	'') SHIM_LINE="$SHIM_LINE ''" ;;
	*\'*) SHIM_LINE="$SHIM_LINE '$(printf '%s' "$shim_arg" | sed "s/'/'\\\\''/g")'" ;;
	*[!A-Za-z0-9_@%+=:,./-]*) SHIM_LINE="$SHIM_LINE '$shim_arg'" ;;
	*) SHIM_LINE="$SHIM_LINE $shim_arg" ;;
	esac
done
case $SHIM_LINE in
*'
'*) printf '%s\n' "$SHIM_LINE" | awk 'BEGIN { ORS = "" } NR > 1 { print "\\n" } { print } END { print "\n" }' >>"$SHIM_LOG" ;;
*) printf '%s\n' "$SHIM_LINE" >>"$SHIM_LOG" ;;
esac

if [ -n "${SHIM_FAIL:-}" ]; then
	case $SHIM_LINE in
	"$SHIM_FAIL"*)
		printf '%s: simulated failure (%s)\n' "$SHIM_NAME" "$SHIM_FAIL" >&2
		exit "${SHIM_FAIL_RC:-1}"
		;;
	esac
fi

if [ "$SHIM_NAME" = kubectl ]; then
	# shellcheck source=_cluster.sh
	. "${SHIM_DIR%/installable}/_cluster.sh"
	cluster_kubectl "$@"
fi

# shim_count NAME: increments and prints a counter kept in $SHIM_STATE.
shim_count() {
	shim_n=$(cat "$SHIM_STATE/$1" 2>/dev/null || echo 0)
	shim_n=$((shim_n + 1))
	echo "$shim_n" >"$SHIM_STATE/$1"
	echo "$shim_n"
}
