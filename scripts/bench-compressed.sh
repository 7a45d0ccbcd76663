#!/usr/bin/env bash
# Compressed input, standard input and the other capture formats, measured in one session
# (issue 14):
#   - decompression alone (zstdcat, gzip -dc) against `pushtrace analyze` on the plain pcap
#     and on its `zstd -3` and `gzip -1` copies (files, standard input, a pipe), and the
#     ratio compressed / max(decompression alone, plain analyze): 1.0 means decompression
#     and analysis overlap completely;
#   - the bare record walk (the floor, examples/walk.rs) against analyze on the pcap and on
#     pcapng and Network Monitor 2.x copies written by editcap (and on the compressed files:
#     the walk then measures the decompression);
#   - peak anonymous memory of each run (scripts/measure.py samples RssAnon every 2 ms).
#
#   scripts/bench-compressed.sh [--size 1G] [--runs 5] [--dir target/bench-captures]
#                               [--target DIR] [--baseline BIN]
#
# --target DIR measures the release binaries of another cargo target directory (pushtrace
# and examples/walk must be built there) instead of building this tree's; --baseline BIN
# also measures a pushtrace built before a change (e.g. from `git worktree add`), on the
# same files in the same runs. The runs of every tool are interleaved; the tables give
# medians (wall and CPU seconds) and the largest anonymous-memory peak. zstd, gzip and
# editcap (tshark) are installed with apt-get when missing and the script runs as root.
# Both cores must be free: a second process on the machine serialises the two threads.
set -euo pipefail
cd "$(dirname "$0")/.."

size=1G
runs=5
dir=target/bench-captures
target=
baseline=
while [ $# -gt 0 ]; do
    case "$1" in
        # Each option sets the variable of its name.
        --size|--runs|--dir|--target|--baseline) [ $# -ge 2 ] && declare "${1#--}=$2" && shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) false ;;
    esac || { echo "bench-compressed.sh: bad argument $1 (see --help)" >&2; exit 2; }
done

if [ -z "$target" ]; then
    echo "== building (release)"
    cargo build --release --quiet --bin pushtrace --example walk
    target=target
fi
pushtrace="$target/release/pushtrace"
walk="$target/release/examples/walk"
for bin in "$pushtrace" "$walk" ${baseline:+"$baseline"}; do
    [ -x "$bin" ] || { echo "bench-compressed.sh: $bin is not an executable" >&2; exit 2; }
done

for tool in zstd:zstd gzip:gzip editcap:tshark; do
    if ! command -v "${tool%%:*}" >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y "${tool##*:}" >/dev/null
        else
            echo "bench-compressed.sh: ${tool%%:*} is missing" >&2; exit 2
        fi
    fi
done

mkdir -p "$dir/formats"
model=$(grep -o 'MODEL_VERSION: u32 = [0-9]*' crates/pushtrace-samples/src/bigcap.rs | grep -o '[0-9]*$')
capture="$dir/bigcap-$size-v$model.pcap"
if [ ! -s "$capture" ]; then
    echo "== generating $capture"
    cargo build --release --quiet -p pushtrace-samples --bin pushtrace-bigcap
    target/release/pushtrace-bigcap --size "$size" -o "$capture" --summary "$capture.json"
fi
# The copies, made once (each newer than the capture) into formats/. Every uncompressed one
# is written by `cp`: how the kernel holds a file in the page cache depends on how it was
# written and changes the floor by up to 40 % (benches/README.md), so the formats are
# compared on files written alike.
file="$dir/formats/$(basename "$capture")"
ng="${file%.pcap}.pcapng"
netmon="${file%.pcap}.cap"
fresh() { [ -s "$1" ] && [ "$1" -nt "$capture" ]; }
fresh "$file" || { echo "== copy"; cp "$capture" "$file"; }
fresh "$file.zst" || { echo "== zstd -3"; zstd -3 -q -f "$file" -o "$file.zst"; touch "$file.zst"; }
fresh "$file.gz" || { echo "== gzip -1"; gzip -1 -c "$file" > "$file.gz"; }
fresh "$ng" || { echo "== pcapng"; editcap -F pcapng "$file" "$ng.tmp"; cp "$ng.tmp" "$ng"; rm "$ng.tmp"; }
fresh "$netmon" || { echo "== netmon2"; editcap -F netmon2 "$file" "$netmon.tmp"; cp "$netmon.tmp" "$netmon"; rm "$netmon.tmp"; }
cat "$file" "$file.zst" "$file.gz" "$ng" "$netmon" > /dev/null

results="$dir/compressed-$(date +%Y%m%d-%H%M%S).jsonl"
out="$dir/compressed-reports"
mkdir -p "$out"
# measure TOOL COMMAND...: one run, its report kept when it is pushtrace's.
measure() {
    local tool="$1" report=/dev/null; shift
    case "$tool" in analyze-*|stdin-*|pipe-*|base-*) report="$out/$tool.json" ;; esac
    python3 scripts/measure.py run --label "tool=$tool" --stdout "$report" -- "$@" >> "$results"
}
analyze=(analyze --format json --no-progress)
# Standard input, with `exec` so that the measured process is pushtrace itself; a pipe.
stdin='exec "$2" analyze --format json --no-progress - < "$1"'
pipe='zstd -dc "$1" | "$2" analyze --format json --no-progress -'
echo "== $runs interleaved runs ($results)"
for run in $(seq "$runs"); do
    measure zstdcat zstd -dc "$file.zst"
    measure gunzip gzip -dc "$file.gz"
    measure floor-pcap "$walk" "$file"
    measure floor-pcapng "$walk" "$ng"
    measure floor-netmon "$walk" "$netmon"
    measure floor-zst "$walk" "$file.zst"
    measure floor-gz "$walk" "$file.gz"
    measure analyze-pcap "$pushtrace" "${analyze[@]}" "$file"
    measure analyze-pcapng "$pushtrace" "${analyze[@]}" "$ng"
    measure analyze-netmon "$pushtrace" "${analyze[@]}" "$netmon"
    measure analyze-zst "$pushtrace" "${analyze[@]}" "$file.zst"
    measure analyze-gz "$pushtrace" "${analyze[@]}" "$file.gz"
    measure stdin-zst sh -c "$stdin" sh "$file.zst" "$pushtrace"
    # A pipe (the memory figures are the shell's).
    measure pipe-zst sh -c "$pipe" sh "$file.zst" "$pushtrace"
    if [ -n "$baseline" ]; then
        measure base-pcap "$baseline" "${analyze[@]}" "$file"
        measure base-zst "$baseline" "${analyze[@]}" "$file.zst"
        measure base-gz "$baseline" "${analyze[@]}" "$file.gz"
        measure base-stdin-zst sh -c "$stdin" sh "$file.zst" "$baseline"
        measure base-pipe-zst sh -c "$pipe" sh "$file.zst" "$baseline"
    fi
    echo "   run $run done"
done

python3 - "$results" "$out" <<'PY'
import collections, json, os, statistics, sys

runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    o = json.loads(line)
    runs[o["tool"]].append(o)
wall = {t: statistics.median(o["wall_s"] for o in rs) for t, rs in runs.items()}
cpu = {t: statistics.median(o["user_s"] + o["sys_s"] for o in rs) for t, rs in runs.items()}
anon = {t: max(o["peak_anon_kib"] for o in rs) / 1024 for t, rs in runs.items()}

print(f"{'tool':<16} {'runs':>4} {'wall s':>8} {'cpu s':>8} {'anon MiB':>9}")
for t in runs:
    print(f"{t:<16} {len(runs[t]):>4} {wall[t]:>8.3f} {cpu[t]:>8.3f} {anon[t]:>9.1f}")
print()

def ratio(compressed, decompress, plain):
    if compressed not in wall or plain not in wall:
        return None
    return wall[compressed] / max(wall[decompress], wall[plain])

for codec, alone in (("zst", "zstdcat"), ("gz", "gunzip")):
    for who, prefix in (("before", "base-"), ("after", "analyze-")):
        r = ratio(f"{prefix}{codec}", alone, f"{prefix}pcap")
        if r is not None:
            print(f"{codec:>4} {who:<6}: {wall[prefix + codec]:.3f} s / max({alone} {wall[alone]:.3f}, "
                  f"plain {wall[prefix + 'pcap']:.3f}) = {r:.2f}")
for tool, alone in (("stdin-zst", "zstdcat"), ("base-stdin-zst", "zstdcat"),
                    ("pipe-zst", "zstdcat"), ("base-pipe-zst", "zstdcat")):
    plain = "base-pcap" if tool.startswith("base") else "analyze-pcap"
    r = ratio(tool, alone, plain)
    if r is not None:
        print(f"{tool:>14}: {wall[tool]:.3f} s / max({wall[alone]:.3f}, {wall[plain]:.3f}) = {r:.2f}")
print()
for fmt in ("pcap", "pcapng", "netmon", "zst", "gz"):
    f, a = f"floor-{fmt}", f"analyze-{fmt}"
    print(f"{fmt:>6}: analyze at {wall[f] / wall[a]:.0%} of the floor's throughput "
          f"({cpu[f] / cpu[a]:.0%} by CPU time)")

# Every input must give the same sessions.
def sessions(tool):
    path = os.path.join(sys.argv[2], tool + ".json")
    return json.load(open(path))["sessions"] if os.path.getsize(path) else None
differ = []
for tool in runs:
    reference = "base-pcap" if tool.startswith("base-") else "analyze-pcap"
    if tool.startswith(("analyze-", "stdin-", "pipe-", "base-")) and sessions(tool) != sessions(reference):
        differ.append(tool)
print(f"sessions: {len(sessions('analyze-pcap'))} in the plain report; "
      + (f"MISMATCH in {', '.join(differ)}" if differ else "the same from every input"))
PY
