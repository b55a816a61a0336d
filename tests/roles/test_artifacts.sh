#!/usr/bin/env bash
# _shared/artifacts.sh: pinned upstream files fetched through the
# manifest_base_url mirror (a real HTTP server on loopback), refused on a
# sha256 mismatch, served from the cache once verified; image_ref and
# mirror_images rewrite image references for the image_registry mirror.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in curl sha256sum python3; do
	path=$(type -P "$tool") || fail "$tool is not installed"
	ln -sf "$path" "$T/bin/$tool"
done

# The "upstream" file, as the mirror holds it: BASE/HOST/PATH.
MIRROR=$T/mirror
mkdir -p "$MIRROR/raw.githubusercontent.com/example/proj/v1.2.3/deploy"
printf 'kind: Namespace\napiVersion: v1\nmetadata:\n  name: demo\n' \
	>"$MIRROR/raw.githubusercontent.com/example/proj/v1.2.3/deploy/ns.yaml"
SUM=$(sha256sum <"$MIRROR/raw.githubusercontent.com/example/proj/v1.2.3/deploy/ns.yaml" | cut -d' ' -f1)

serve_mirror "$MIRROR"
HTTP_PID=$MIRROR_PID

ROLE=$T/role
mkdir -p "$ROLE" "$T/root" "$T/work"
cp "$SHARED_DIR/lib.sh" "$SHARED_DIR/artifacts.sh" "$ROLE/"

# lib_run ENV... -- SCRIPT: runs SCRIPT with lib.sh and artifacts.sh sourced,
# in the clean environment a role step gets.
lib_run() {
	local -a envv=("PATH=$T/bin" "HOME=$T" "OC_SYSROOT=$T/root" "OVERCLOUD_ROLE_DIR=$ROLE"
		"OVERCLOUD_WORKDIR=$T/work" "OVERCLOUD_OUTPUT=$T/out" "OVERCLOUD_PROGRESS=$T/progress")
	while [ "$1" != -- ]; do envv+=("$1"); shift; done
	shift
	env -i "${envv[@]}" sh -c ". \"$ROLE/lib.sh\"; . \"$ROLE/artifacts.sh\"; need_agent_env; $1" \
		>"$T/stdout" 2>"$T/stderr"
}

URL=https://raw.githubusercontent.com/example/proj/v1.2.3/deploy/ns.yaml
printf '# pins\n\nns v1.2.3 %s %s\nbad v1 %s %s\n' "$SUM" "$URL" \
	"$(printf '%064d' 0)" "$URL" >"$ROLE/artifacts"

lib_run "INPUT_MANIFEST_BASE_URL=$BASE/" -- 'fetch_artifact ns "$WORK/ns.yaml"' ||
	fail "fetch through the mirror: $(cat "$T/stderr")"
cmp -s "$T/work/ns.yaml" "$MIRROR/raw.githubusercontent.com/example/proj/v1.2.3/deploy/ns.yaml" ||
	fail "the fetched file differs from the mirror's"
grep -q "GET /raw.githubusercontent.com/example/proj/v1.2.3/deploy/ns.yaml" "$T/http.log" ||
	fail "the mirror was not asked for BASE/HOST/PATH: $(cat "$T/http.log")"
[ -f "$T/root/var/cache/overcloud/artifacts/$SUM" ] || fail "no verified copy in the cache"
ok "fetch_artifact: BASE/HOST/PATH from the mirror, sha256 checked, cached"

rm -f "$T/work/ns.yaml"
if lib_run "INPUT_MANIFEST_BASE_URL=$BASE" -- 'fetch_artifact bad "$WORK/bad.yaml"'; then
	fail "a file whose sha256 is not the pin was accepted"
fi
grep -q "artifact bad v1 from $BASE/raw.githubusercontent.com/example/proj/v1.2.3/deploy/ns.yaml: sha256 $SUM, pinned 0000" "$T/stderr" ||
	fail "mismatch message: $(cat "$T/stderr")"
[ ! -e "$T/work/bad.yaml" ] && [ ! -e "$T/work/bad.yaml.part" ] || fail "a refused download was left in place"
ok "fetch_artifact: a sha256 mismatch is refused and nothing is left"

# The cache serves a verified copy with the mirror gone; a corrupt cache
# entry is not trusted.
kill "$HTTP_PID"
wait "$HTTP_PID" 2>/dev/null || true
lib_run "INPUT_MANIFEST_BASE_URL=$BASE" -- 'fetch_artifact ns "$WORK/ns.yaml"' ||
	fail "fetch from the cache: $(cat "$T/stderr")"
grep -q "verified copy from the cache" "$T/stdout" || fail "not served from the cache: $(cat "$T/stdout")"
echo tampered >>"$T/root/var/cache/overcloud/artifacts/$SUM"
if lib_run "INPUT_MANIFEST_BASE_URL=$BASE" -- 'fetch_artifact ns "$WORK/ns2.yaml"'; then
	fail "a tampered cache entry was used"
fi
grep -q "download from $BASE/raw.githubusercontent.com/.* failed" "$T/stderr" || fail "tampered cache: $(cat "$T/stderr")"
ok "fetch_artifact: the cache is used only while its bytes match the pin"

for bad in 'unlisted' ; do
	! lib_run -- "fetch_artifact $bad \"\$WORK/x\"" || fail "unlisted artifact accepted"
	grep -q "artifact $bad is not pinned in artifacts" "$T/stderr" || fail "unlisted: $(cat "$T/stderr")"
done
printf 'ns v1 %s %s\nns v2 %s %s\n' "$SUM" "$URL" "$SUM" "$URL" >"$ROLE/artifacts"
! lib_run -- 'fetch_artifact ns "$WORK/x"' || fail "a twice-pinned artifact was accepted"
grep -q "listed more than once" "$T/stderr" || fail "twice: $(cat "$T/stderr")"
printf 'ns v1 %s http://example.org/x\n' "$SUM" >"$ROLE/artifacts"
! lib_run -- 'fetch_artifact ns "$WORK/x"' || fail "an http:// pin was accepted"
grep -q "is not an https:// URL" "$T/stderr" || fail "http pin: $(cat "$T/stderr")"
printf 'ns v1 %s %s\n' "$SUM" "$URL" >"$ROLE/artifacts"
! lib_run "INPUT_MANIFEST_BASE_URL=ftp://mirror" -- 'fetch_artifact ns "$WORK/y"' || fail "an ftp mirror was accepted"
grep -q "manifest_base_url 'ftp://mirror' is not an http:// or https:// URL" "$T/stderr" || fail "ftp: $(cat "$T/stderr")"
ok "fetch_artifact: unlisted, twice-listed, non-https pins and bad mirrors are refused"

# image_ref: unchanged without a mirror; under REGISTRY/HOST/PATH with one.
check_ref() { # MIRROR REF WANT
	lib_run "INPUT_IMAGE_REGISTRY=$1" -- "image_ref '$2'" || fail "image_ref $2: $(cat "$T/stderr")"
	[ "$(cat "$T/stdout")" = "$3" ] || fail "image_ref $2 with '$1': $(cat "$T/stdout"), expected $3"
}
check_ref "" registry.k8s.io/pause:3.10 registry.k8s.io/pause:3.10
check_ref 10.1.0.9:5000 registry.k8s.io/pause:3.10 10.1.0.9:5000/registry.k8s.io/pause:3.10
check_ref mirror.lab/cache quay.io/ceph/ceph:v19.2.3 mirror.lab/cache/quay.io/ceph/ceph:v19.2.3
check_ref mirror.lab busybox:1.36 mirror.lab/docker.io/library/busybox:1.36
check_ref mirror.lab rook/ceph:v1.18.0 mirror.lab/docker.io/rook/ceph:v1.18.0
check_ref mirror.lab localhost:5000/x/y@sha256:abcd mirror.lab/localhost:5000/x/y@sha256:abcd
! lib_run "INPUT_IMAGE_REGISTRY=mirror.lab" -- "image_ref 'a b'" || fail "an image ref with a space was accepted"
! lib_run "INPUT_IMAGE_REGISTRY=https://mirror.lab" -- "image_ref 'a'" || fail "a URL as image_registry was accepted"
grep -q "image_registry 'https://mirror.lab' is not HOST\[:PORT\]\[/PATH\]" "$T/stderr" || fail "registry URL: $(cat "$T/stderr")"
ok "image_ref: REGISTRY/HOST/PATH with docker.io and library/ filled in; bad refs refused"

cat >"$T/work/m.yaml" <<'YAML'
spec:
  containers:
    - name: a
      image: registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.17.0
    - image: "quay.io/prometheus/prometheus:v3.5.0"  # pinned
      name: b
  # image: not/this:1
  initImage: docker.io/not/this:2
YAML
lib_run "INPUT_IMAGE_REGISTRY=mirror.lab:5000" -- 'mirror_images "$WORK/m.yaml"' || fail "mirror_images: $(cat "$T/stderr")"
grep -qx '      image: mirror.lab:5000/registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.17.0' "$T/work/m.yaml" &&
	grep -qx '    - image: mirror.lab:5000/quay.io/prometheus/prometheus:v3.5.0' "$T/work/m.yaml" &&
	grep -qx '  # image: not/this:1' "$T/work/m.yaml" &&
	grep -qx '  initImage: docker.io/not/this:2' "$T/work/m.yaml" || fail "mirror_images: $(cat "$T/work/m.yaml")"
ok "mirror_images: every image: value rewritten, comments and other keys left alone"
