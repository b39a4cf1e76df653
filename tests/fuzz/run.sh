#!/bin/sh
# run.sh FUZZER SEEDS_DIR SECONDS - runs a libFuzzer target for a bounded
# time on a scratch copy of the seed files (every file of SEEDS_DIR); fails on
# any crash, leak or hang.
set -u
d=$(mktemp -d)
cp "$2"/* "$d"/
"$1" -max_total_time="$3" -timeout=5 -rss_limit_mb=1024 "$d" >"$d.log" 2>&1
rc=$?
tail -n 8 "$d.log"
rm -rf "$d" "$d.log"
exit $rc
