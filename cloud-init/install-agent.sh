#!/bin/sh
# overcloud-install-agent: run once by cloud-init (runcmd) on a new node.
# Downloads the agent for this machine from the tower (TLS checked against
# the tower's CA), refuses it unless its sha256 is the one the tower put in
# join.conf, installs it, joins with the single-use token and starts the
# service. Every path it writes is under $OC_ROOT (empty on a real node;
# tests set it so nothing touches /etc or /usr/local).
set -eu

root=${OC_ROOT:-}
conf=$root/etc/overcloud/join.conf
ca=$root/etc/overcloud/ca.pem
bindir=$root/usr/local/bin
agent=$bindir/overcloud-agent
state=$root/var/lib/overcloud-agent

log() { echo "overcloud-install-agent: $*" >&2; }
die() { log "$*"; exit 1; }

# conf KEY: the value of "KEY = value" in join.conf (empty when absent).
conf() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$conf" | head -n 1; }

[ -r "$conf" ] || die "$conf is missing"
[ -r "$ca" ] || die "$ca is missing"
tower=$(conf tower)
api=$(conf api)
arch=$(conf arch)
want=$(conf agent_sha256)
if [ -z "$tower" ] || [ -z "$api" ] || [ -z "$arch" ] || [ -z "$want" ]; then
	die "$conf needs tower, api, arch and agent_sha256"
fi

# The binary must run here: the tower picked it by the arch it was told.
machine=$(uname -m)
case $machine in
	x86_64|amd64) machine=x86_64 ;;
	aarch64|arm64) machine=aarch64 ;;
	armv7*|armv8l) machine=armv7 ;;
esac
[ "$machine" = "$arch" ] ||
	die "this machine is $machine but the user-data is for $arch (tower userdata --arch $machine)"

mkdir -p "$bindir"
tmp=$(mktemp "$bindir/.overcloud-agent.XXXXXX")
trap 'rm -f "$tmp"' EXIT
url="https://$api/v1/artifacts/agent/$arch"
log "downloading $url"
if command -v curl >/dev/null 2>&1; then
	curl --proto =https --cacert "$ca" --fail --silent --show-error \
		--connect-timeout 10 --max-time 600 --retry 10 --retry-delay 3 \
		--retry-connrefused --output "$tmp" "$url" || die "download failed: $url"
elif command -v wget >/dev/null 2>&1; then
	wget --quiet --https-only --ca-certificate="$ca" --tries=10 --waitretry=3 \
		--retry-connrefused --timeout=60 --output-document="$tmp" "$url" ||
		die "download failed: $url"
else
	die "neither curl nor wget is installed"
fi
got=$(sha256sum "$tmp" | cut -d ' ' -f 1)
[ "$got" = "$want" ] ||
	die "checksum mismatch for $url: got sha256 $got, the tower said $want; not installed"
chmod 0755 "$tmp"
mv -f "$tmp" "$agent"
trap - EXIT
log "installed $agent (sha256 $got)"

# Already joined (cloud-init ran again): the node keeps its identity.
if [ ! -s "$state/agent.conf" ]; then
	token=$(conf token)
	[ -n "$token" ] || die "$conf has no token and the node never joined"
	"$agent" join --tower "$tower" --token "$token" --ca "$ca" --state "$state" --no-run ||
		die "join failed"
	# The token is spent; it need not stay on the node.
	sed -i '/^token[[:space:]]*=/d' "$conf"
fi
systemctl daemon-reload
systemctl enable --now --no-block overcloud-agent.service
log "overcloud-agent enabled and started"
