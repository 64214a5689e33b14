#!/usr/bin/env bash
# make bench: the Go micro-benchmark of signature verification plus payload decoding, then
# the control-plane benchmarks (hack/bench). Prints `BENCH key=value` lines and a table;
# writes them to bench/results.txt. BENCH_N scales the counts (1 = the full run).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench
out=bench/results.txt
: > "$out"

raw=$(go test ./internal/ingress -run '^$' -bench '^BenchmarkVerifyAndDecode$' -benchmem -count 5 2>&1) || {
  echo "$raw" >&2; echo "bench: the verify+decode benchmark failed" >&2; exit 1; }
# Median of the five runs.
ns=$(echo "$raw" | awk '/^BenchmarkVerifyAndDecode/ {for (i = 2; i <= NF; i++) if ($i == "ns/op") print $(i-1)}' | sort -n | sed -n 3p)
allocs=$(echo "$raw" | awk '/^BenchmarkVerifyAndDecode/ {for (i = 2; i <= NF; i++) if ($i == "allocs/op") print $(i-1)}' | sort -n | sed -n 3p)
{
  echo "BENCH verify_parse_ns_per_op=$ns"
  echo "BENCH verify_parse_allocs_per_op=$allocs"
} | tee -a "$out"

go run ./hack/bench --out "$out"

echo
echo "| key | value | goal |"
echo "|---|---|---|"
goal() {
  case "$1" in
    verify_parse_ns_per_op) echo "<= 15000" ;;
    verify_parse_allocs_per_op) echo "as few as possible" ;;
    ingress_vs_raw_throughput_ratio) echo ">= 0.6 (floor)" ;;
    ingress_p99_ms) echo "<= 2 x raw_p99_ms" ;;
    ingress_vs_raw_mix_ratio) echo ">= 0.95" ;;
    ingress_mix_requests_per_delivery) echo "<= 1.1" ;;
    reconcile_vs_raw_ratio) echo "<= 1.3" ;;
    reconcile_operator_requests_per_associate) echo "<= 3.1" ;;
    resync_50k_unchanged_writes) echo "0" ;;
    resync_50k_100_changed_writes) echo "100" ;;
    bytes_per_cached_associate) echo "<= 2000" ;;
    manager_rss_mb_50k) echo "<= 200" ;;
    *) echo "" ;;
  esac
}
sed -n 's/^BENCH \([^=]*\)=\(.*\)$/\1 \2/p' "$out" | while read -r key value; do
  echo "| $key | $value | $(goal "$key") |"
done
