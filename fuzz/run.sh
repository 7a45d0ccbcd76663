#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each (default 600), two at a time
# (this machine has 2 cores), with libFuzzer's final statistics, logging to fuzz/logs/.
# Needs the nightly toolchain and cargo-fuzz (see README.md). Seeds first:
#   cargo run --manifest-path fuzz/Cargo.toml --example seed_corpora
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(pcap pcapng netmon dcerpc_pdu register_push frames conversation views config)
fi
mkdir -p fuzz/logs
cargo +nightly fuzz build
run() {
    local t=$1
    local rc=0
    cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb=2048 -timeout=10 >"fuzz/logs/$t.log" 2>&1 || rc=$?
    local done_line
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "fuzz/logs/$t.log" | tail -1 || true)
    echo "$t exit=$rc $done_line"
}
i=0
for t in "${targets[@]}"; do
    run "$t" &
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then
        wait
    fi
done
wait
