#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name>), so the checked-in corpus stays as it is.
set -euo pipefail
bin=$(realpath "$1") seconds=$2
name=$(basename "$bin")
seed="$(dirname "$0")/corpus/$name"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
[ -d "$seed" ] && cp -r "$seed/." "$work/corpus/"
cd "$work"
"$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 corpus 2>&1 | tail -n 25
