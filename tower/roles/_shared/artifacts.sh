# artifacts.sh — third-party files and images a role uses, by pin: an
# upstream URL, version and sha256 listed in the role's `artifacts` file,
# fetched at run time (or from the mirror inputs) and refused unless the
# bytes match. Needs lib.sh sourced first and need_agent_env called.
# Kept once here in _shared; roles list it under include:.
# shellcheck shell=sh

# The role's pins: one line per artifact, `NAME VERSION SHA256 URL`.
ARTIFACTS_FILE_DEFAULT=artifacts

# artifact_line NAME: prints "VERSION SHA256 URL" of NAME from the role's
# artifacts file; dies when it is not listed or the line is malformed.
artifact_line() {
	af="${ROLE_DIR:?need_agent_env first}/$ARTIFACTS_FILE_DEFAULT"
	[ -f "$af" ] || die "the role bundle has no $ARTIFACTS_FILE_DEFAULT file (pins of upstream artifacts)"
	al="$(awk -v n="$1" '$1 == n && $0 !~ /^[[:space:]]*#/ { $1 = ""; print; found++ }
		END { if (found > 1) exit 2 }' "$af")" ||
		die "artifact $1 is listed more than once in $ARTIFACTS_FILE_DEFAULT"
	[ -n "$al" ] || die "artifact $1 is not pinned in $ARTIFACTS_FILE_DEFAULT"
	al_name=$1
	set -f
	# shellcheck disable=SC2086 # three words: version, sha256, url
	set -- $al
	set +f
	[ $# -eq 3 ] || die "artifact line for $al_name is not 'NAME VERSION SHA256 URL'"
	printf '%s\n' "$2" | grep -Eqx '[0-9a-f]{64}' || die "artifact pin for $al_name is not a sha256 ($2)"
	case $3 in
	https://*/*) ;;
	*) die "artifact URL for $al_name is not an https:// URL ($3)" ;;
	esac
	printf '%s %s %s\n' "$1" "$2" "$3"
}

# artifact_url URL: the URL to fetch from. With the manifest_base_url input
# set, https://HOST/PATH is served by the mirror as BASE/HOST/PATH, so an
# air-gapped lab mirrors upstream files under their own host and path.
artifact_url() {
	base="${INPUT_MANIFEST_BASE_URL:-}"
	if [ -z "$base" ]; then
		printf '%s\n' "$1"
		return 0
	fi
	case $base in
	http://* | https://*) ;;
	*) die "manifest_base_url '$base' is not an http:// or https:// URL" ;;
	esac
	printf '%s/%s\n' "${base%/}" "${1#https://}"
}

# fetch_artifact NAME DEST: DEST gets the pinned bytes of NAME, from the
# cache when a verified copy is there, else downloaded (bounded retries on
# every transient error) and checked against the pin before it is used.
fetch_artifact() {
	line="$(artifact_line "$1")" || exit 1
	set -f
	# shellcheck disable=SC2086 # version, sha256, url
	set -- "$1" "$2" $line
	set +f
	fa_name=$1 fa_dest=$2 fa_version=$3 fa_sum=$4 fa_url=$5
	fa_cache="$ROOT/var/cache/overcloud/artifacts"
	mkdir -p "$fa_cache" 2>/dev/null || true
	if [ -f "$fa_cache/$fa_sum" ] &&
		[ "$(sha256sum <"$fa_cache/$fa_sum" | cut -d' ' -f1)" = "$fa_sum" ]; then
		cp "$fa_cache/$fa_sum" "$fa_dest"
		log "artifact $fa_name $fa_version: verified copy from the cache"
		return 0
	fi
	fa_from="$(artifact_url "$fa_url")" || exit 1
	log "artifact $fa_name $fa_version: fetching $fa_from"
	rm -f "$fa_dest.part"
	curl --fail --silent --show-error --location --proto '=http,https' \
		--connect-timeout 15 --max-time 300 \
		--retry 5 --retry-delay 2 --retry-max-time 120 --retry-all-errors \
		--output "$fa_dest.part" "$fa_from" ||
		die "artifact $fa_name $fa_version: download from $fa_from failed"
	fa_got="$(sha256sum <"$fa_dest.part" | cut -d' ' -f1)"
	if [ "$fa_got" != "$fa_sum" ]; then
		rm -f "$fa_dest.part"
		die "artifact $fa_name $fa_version from $fa_from: sha256 $fa_got, pinned $fa_sum; refusing it"
	fi
	mv "$fa_dest.part" "$fa_dest"
	if ! { cp "$fa_dest" "$fa_cache/$fa_sum.tmp" && mv "$fa_cache/$fa_sum.tmp" "$fa_cache/$fa_sum"; }; then
		warn "could not cache artifact $fa_name in $fa_cache"
	fi
}

# image_ref REF: REF as the node should pull it. With the image_registry
# input set, HOST/PATH[:TAG][@DIGEST] becomes REGISTRY/HOST/PATH...: the
# mirror holds each image under its upstream registry's host name. A REF
# naming no registry is docker.io's (library/ for one-word names).
image_ref() {
	reg="${INPUT_IMAGE_REGISTRY:-}"
	ref=$1
	printf '%s\n' "$ref" | grep -Eqx '[A-Za-z0-9][A-Za-z0-9._:/@-]*' ||
		die "image reference '$ref' has characters an image reference cannot have"
	if [ -z "$reg" ]; then
		printf '%s\n' "$ref"
		return 0
	fi
	printf '%s\n' "$reg" | grep -Eqx '[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)*' ||
		die "image_registry '$reg' is not HOST[:PORT][/PATH]"
	first=${ref%%/*}
	case $ref in
	*/*)
		case $first in
		*.* | *:* | localhost) ;; # names a registry
		*) ref="docker.io/$ref" ;;
		esac
		;;
	*) ref="docker.io/library/$ref" ;;
	esac
	printf '%s/%s\n' "${reg%/}" "$ref"
}

# mirror_images FILE: rewrites every `image:` value of a YAML manifest with
# image_ref, in place. Quoted and unquoted values are both handled; a value
# image_ref refuses stops the role.
mirror_images() {
	[ -n "${INPUT_IMAGE_REGISTRY:-}" ] || return 0
	mi_out="$1.mirrored"
	: >"$mi_out"
	while IFS= read -r mi_line || [ -n "$mi_line" ]; do
		case $mi_line in
		*image:*)
			mi_pre="${mi_line%%image:*}"
			mi_val="${mi_line#*image:}"
			mi_val="$(printf '%s' "$mi_val" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]#.*$//' -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/")"
			case $mi_pre in
			*[!\ -]*) printf '%s\n' "$mi_line" >>"$mi_out" ;; # a key like initImage: or text
			*)
				if [ -z "$mi_val" ]; then
					printf '%s\n' "$mi_line" >>"$mi_out"
				else
					mi_new="$(image_ref "$mi_val")" || exit 1
					printf '%simage: %s\n' "$mi_pre" "$mi_new" >>"$mi_out"
				fi
				;;
			esac
			;;
		*) printf '%s\n' "$mi_line" >>"$mi_out" ;;
		esac
	done <"$1"
	mv "$mi_out" "$1"
}
