#!/usr/bin/env bash
# Bounded memory under attack, full size: writes each hostile capture of
# pushtrace_samples::attack (a million connections holding half a DCE/RPC PDU, endless
# out-of-order segments, calls that never end, a million registrations, a UDP flood, an
# ICMP flood, IP fragments that never complete, a million calls that wait for evidence that
# they are store calls, and all of these in one capture) into a
# temporary directory, runs the release `pushtrace analyze --format json`
# on it and checks that
#   * peak anonymous memory (RssAnon, polled every 10 ms from /proc/PID/status while the
#     file is read memory-mapped: the mapped capture's pages do not count) stays under
#     LIMIT_MIB (default 64), and so does the peak resident set (VmHWM, from
#     /usr/bin/time when installed) of a second run reading the capture from standard input;
#   * every cap the attack aims at is named in the report's warnings.
# The scaled-down form runs in the normal test suite (tests/attack.rs).
#
# Usage: scripts/attack.sh [ATTACK...]   (default: all). Environment: LIMIT_MIB, KEEP=1 keeps
# the captures and reports, ATTACK_DIR chooses where they go (needs about 1.5 GB).
set -euo pipefail
cd "$(dirname "$0")/.."

limit_mib=${LIMIT_MIB:-64}
dir=${ATTACK_DIR:-$(mktemp -d)}
mkdir -p "$dir"
if [ "${KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$dir"' EXIT
fi

cargo build --release --quiet --bin pushtrace -p pushtrace
cargo build --release --quiet --bin pushtrace-attack -p pushtrace-samples
cli=target/release/pushtrace
gen=target/release/pushtrace-attack

# attack, scale, warning codes that must appear
cases=(
    "half-pdus 1000000 tcp_connection_table_full,dcerpc_unfinished_pdu"
    "out-of-order 200000 tcp_reorder_buffer_full,dcerpc_gap"
    "endless-fragments 200000 dcerpc_held_bytes_total_cap"
    "registrations 1000000 dcerpc_pending_call_total_cap,correlation_item_cap"
    "udp-flood 1000000 datagram_pool_cap,session_cap"
    "icmp-flood 1000000 icmp_cap"
    "ip-fragments 200000 ip_defrag_byte_cap"
    "unknown-calls 1000000 store_identification_cap"
    "combined 200000 tcp_connection_table_full,dcerpc_unfinished_pdu,tcp_reorder_buffer_full,dcerpc_held_bytes_total_cap,correlation_item_cap,correlation_call_cap,datagram_pool_cap,session_cap,icmp_cap,ip_defrag_byte_cap,store_identification_cap"
)

# measure OUT ERR COMMAND...: runs COMMAND with its output in OUT and ERR; prints
# "peak_rss_anon_kib peak_hwm_kib exit_code".
measure() {
    local out=$1 err=$2
    shift 2
    "$@" >"$out" 2>"$err" &
    local pid=$! anon=0 hwm=0 a h
    while kill -0 "$pid" 2>/dev/null; do
        if a=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$a" ]; then
            [ "$a" -gt "$anon" ] && anon=$a
            h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
        fi
        sleep 0.01
    done
    local rc=0
    wait "$pid" || rc=$?
    echo "$anon $hwm $rc"
}

failed=0
printf '%-18s %9s %7s %8s %12s %12s %5s  %s\n' attack scale MB seconds "RssAnon MiB" "stdin HWM MiB" exit warnings
for case in "${cases[@]}"; do
    read -r name scale expected <<<"$case"
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
        continue
    fi
    capture="$dir/$name.pcap"
    "$gen" "$name" "$scale" "$capture" >/dev/null
    size_mb=$(( $(stat -c %s "$capture") / 1000000 ))
    start=$(date +%s.%N)
    read -r anon hwm rc < <(measure "$dir/$name.json" "$dir/$name.err" \
        "$cli" analyze --format json --no-progress "$capture")
    seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    stdin_hwm=-
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$dir/$name.time" "$cli" analyze --format json --no-progress - \
            <"$capture" >/dev/null 2>&1 || true
        stdin_hwm=$(( $(tail -1 "$dir/$name.time") / 1024 ))
    fi
    codes=$(python3 -c '
import json, sys
report = json.load(open(sys.argv[1]))
print(",".join(sorted({w["code"] for i in report["inputs"] for w in i["warning_details"]})))
' "$dir/$name.json")
    printf '%-18s %9s %7s %8s %12s %12s %5s  %s\n' "$name" "$scale" "$size_mb" "$seconds" \
        "$((anon / 1024))" "$stdin_hwm" "$rc" "$codes"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 3 ]; then
        echo "  FAIL: exit code $rc: $(head -c 300 "$dir/$name.err")"
        failed=1
    fi
    if [ $((anon / 1024)) -ge "$limit_mib" ]; then
        echo "  FAIL: peak RssAnon $((anon / 1024)) MiB >= $limit_mib MiB"
        failed=1
    fi
    if [ "$stdin_hwm" != - ] && [ "$stdin_hwm" -ge "$limit_mib" ]; then
        echo "  FAIL: peak resident set reading stdin $stdin_hwm MiB >= $limit_mib MiB"
        failed=1
    fi
    for code in ${expected//,/ }; do
        if ! printf '%s\n' "${codes//,/$'\n'}" | grep -qx "$code"; then
            echo "  FAIL: no $code warning"
            failed=1
        fi
    done
done
exit "$failed"
