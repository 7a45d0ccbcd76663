#!/usr/bin/env bash
# Benchmarks `pushtrace analyze` against the floor (a bare record walk over the same file)
# and against tshark, on generated captures of several sizes. See benches/README.md.
#
#   scripts/bench.sh [--sizes "0.25G 1G 2G"] [--runs 3] [--dir target/bench-captures]
#                    [--tshark-max 2G] [--no-tshark] [--format pcap|pcapng|netmon] [--views SIZE]
#                    [--mix handshakes|midstream] [--baseline PATH]
#
# --format netmon measures Network Monitor 2.x copies of the generated pcap files, written by
# editcap (installed with tshark).
# --mix midstream generates captures whose TCP connections all began before the capture
# (pushtrace-bigcap --mix midstream) instead of starting with their handshake.
# --baseline PATH also measures another pushtrace binary (e.g. one built from an earlier
# commit) on the same files, interleaved with the others, as tool "baseline".
# --views SIZE also measures two views of one trace (the SIZE capture and a copy whose clock
# is 2.5 s ahead, scripts/second-view.py; pcap only) against the capture alone.
# Needs the Rust toolchain, python3 (for exact timing and memory sampling: scripts/measure.py)
# and, for the comparison, tshark (installed with apt-get when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes="0.25G 1G 2G"
runs=3
dir=target/bench-captures
tshark_max=2G
use_tshark=1
format=pcap
views=
mix=handshakes
baseline=
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --tshark-max) tshark_max="$2"; shift 2 ;;
        --no-tshark) use_tshark=0; shift ;;
        --format) format="$2"; shift 2 ;;
        --views) views="$2"; shift 2 ;;
        --mix) mix="$2"; shift 2 ;;
        --baseline) baseline="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# The filter closest to pushtrace's job: EMSMDB binds, opnum-4 calls, and every UDP datagram.
tshark_filter='dcerpc.cn_bind_to_uuid == a4f1db00-ca47-1067-b31f-00dd010662da || dcerpc.opnum == 4 || udp'

echo "== building (release)"
cargo build --release --quiet --bin pushtrace --example walk
cargo build --release --quiet -p pushtrace-samples --bin pushtrace-bigcap
pushtrace=target/release/pushtrace
walk=target/release/examples/walk
bigcap=target/release/pushtrace-bigcap
measure="python3 scripts/measure.py"

if { [ "$use_tshark" = 1 ] || [ "$format" = netmon ]; } && ! command -v tshark >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing tshark"
        DEBIAN_FRONTEND=noninteractive apt-get install -y tshark >/dev/null
    elif [ "$format" = netmon ]; then
        echo "bench.sh: --format netmon needs editcap (tshark)" >&2; exit 2
    else
        echo "== tshark not found: comparison skipped"
        use_tshark=0
    fi
fi

# A size like 0.25G or 64M in bytes (binary multiples, as pushtrace-bigcap reads them).
bytes_of() {
    python3 -c 'import sys; t = sys.argv[1]; u = {"K": 10, "M": 20, "G": 30}
print(int(float(t[:-1]) * (1 << u[t[-1].upper()])) if t[-1].isalpha() else int(t))' "$1"
}
tshark_max_bytes=$(bytes_of "$tshark_max")

mkdir -p "$dir"
results="$dir/results-$(date +%Y%m%d-%H%M%S).jsonl"
model=$(grep -o 'MODEL_VERSION: u32 = [0-9]*' crates/pushtrace-samples/src/bigcap.rs | grep -o '[0-9]*$')
case "$mix" in
    handshakes) stem=bigcap ;;
    midstream) stem=bigcap-midstream ;;
    *) echo "bench.sh: --mix is handshakes or midstream, not $mix" >&2; exit 2 ;;
esac
if [ -n "$baseline" ] && [ ! -x "$baseline" ]; then
    echo "bench.sh: --baseline $baseline is not an executable" >&2; exit 2
fi
for size in $sizes; do
    file="$dir/$stem-$size-v$model.$format"
    if [ "$format" = netmon ]; then
        # The generator writes pcap and pcapng; Network Monitor 2.x copies come from editcap.
        file="$dir/$stem-$size-v$model.cap"
        generated="$dir/$stem-$size-v$model.pcap"
    else
        generated="$file"
    fi
    if [ ! -s "$generated" ] || [ ! -s "$generated.json" ]; then
        echo "== generating $generated"
        "$bigcap" --size "$size" --format "${format/netmon/pcap}" --mix "$mix" -o "$generated" --summary "$generated.json"
        python3 -c "import json; d = json.load(open('$generated.json')); print('   %.0f MB/s, %d frames, %d sessions' % (d['mb_per_s'], d['summary']['frames'], len(d['summary']['sessions'])))"
    fi
    if [ "$file" != "$generated" ] && { [ ! -s "$file" ] || [ "$generated" -nt "$file" ]; }; then
        echo "== editcap -F netmon2 $generated"
        editcap -F netmon2 "$generated" "$file.tmp" && mv "$file.tmp" "$file"
        cp "$generated.json" "$file.json"
    fi
    bytes=$(stat -c %s "$file")
    # Warm the page cache: every tool then reads the file from memory.
    cat "$file" > /dev/null
    frames=$("$walk" "$file" | python3 -c "import json, sys; print(json.load(sys.stdin)['frames'])")
    labels=(--label "file=$file" --label "bytes=$bytes" --label "frames=$frames")
    echo "== $file: $bytes bytes, $frames frames"
    for run in $(seq "$runs"); do
        $measure run --label tool=floor "${labels[@]}" -- "$walk" "$file" >> "$results"
        if [ -n "$baseline" ]; then
            $measure run --label tool=baseline "${labels[@]}" --stdout "$dir/baseline.json" \
                -- "$baseline" analyze --format json --no-progress "$file" >> "$results"
        fi
        $measure run --label tool=analyze "${labels[@]}" --stdout "$dir/analyze.json" \
            -- "$pushtrace" analyze --format json --no-progress "$file" >> "$results"
        echo "   run $run done"
    done
    # The report must hold every planted session with its verdict.
    python3 - "$file.json" "$dir/analyze.json" <<'PY'
import json, sys
planted = {s["client"]: s["verdict"] for s in json.load(open(sys.argv[1]))["summary"]["sessions"]}
found = {s["client"]: s["verdict"] for s in json.load(open(sys.argv[2]))["sessions"]}
status = "ok" if found == planted else f"MISMATCH: planted {planted}, found {found}"
print(f"   sessions: {len(found)} found, {len(planted)} planted: {status}")
PY
    if [ "$use_tshark" = 1 ] && [ "$(bytes_of "$size")" -le "$tshark_max_bytes" ]; then
        echo "   tshark (one run) ..."
        $measure run --label tool=tshark "${labels[@]}" \
            -- tshark -n -r "$file" -Y "$tshark_filter" >> "$results"
    fi
done

if [ -n "$views" ]; then
    file="$dir/$stem-$views-v$model.pcap"
    second="$dir/$stem-$views-v$model-view.pcap"
    [ -s "$file" ] || { echo "bench.sh: --views $views needs $file (add $views to --sizes, --format pcap)" >&2; exit 2; }
    [ -s "$second" ] || python3 scripts/second-view.py "$file" "$second" 2.5
    cat "$file" "$second" > /dev/null
    echo "== two views of $file"
    for run in $(seq "$runs"); do
        $measure run --label tool=one-view -- "$pushtrace" analyze --format json --no-progress "$file" >> "$dir/views.jsonl"
        $measure run --label tool=two-views --stdout "$dir/views.json" \
            -- "$pushtrace" analyze --format json --no-progress "$file" "$second" >> "$dir/views.jsonl"
        $measure run --label tool=two-separate \
            -- "$pushtrace" analyze --separate --format json --no-progress "$file" "$second" >> "$dir/views.jsonl"
    done
    python3 - "$dir/views.jsonl" "$dir/views.json" "$file.json" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    o = json.loads(line)
    runs[o["tool"]].append(o)
one = statistics.median(o["wall_s"] for o in runs["one-view"])
for tool, rs in runs.items():
    wall = statistics.median(o["wall_s"] for o in rs)
    cpu = statistics.median(o["user_s"] + o["sys_s"] for o in rs)
    anon = max(o["peak_anon_kib"] for o in rs) / 1024
    print(f"   {tool:13} wall {wall:.3f} s ({wall / one:.2f}x one view)  cpu {cpu:.3f} s  anon {anon:.1f} MiB")
report = json.load(open(sys.argv[2]))
clock = report["inputs"][1].get("clock")
planted = len(json.load(open(sys.argv[3]))["summary"]["sessions"])
print(f"   traces {[t['kind'] for t in report['traces']]}, clock {clock}, "
      f"{len(report['sessions'])} sessions ({planted} planted)")
PY
fi

echo
echo "== results ($results)"
$measure table "$results"
