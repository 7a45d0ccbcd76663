#!/usr/bin/env bash
# Checks `pushtrace analyze --evidence` against tshark (not part of CI): for every bundled
# sample, and for the samples that belong together (views, a ring buffer), writes the
# evidence capture and has tshark read it back: tshark must read the file without error, see
# as many frames as pushtrace says it wrote, and find a packet comment on every one.
#
# Usage: scripts/evidence-tshark.sh [--show SAMPLE]...
#   PUSHTRACE=path/to/pushtrace (default: target/debug/pushtrace, else target/release/pushtrace)
#   --show SAMPLE   also print tshark's frame numbers and comments for that sample (its file
#                   name without extension, e.g. udp-blocked-icmp; a group by its first file)
# Needs tshark (apt-get install tshark). Exits 1 when a sample fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
samples=$root/samples
pushtrace=${PUSHTRACE:-}
if [[ -z $pushtrace ]]; then
    pushtrace=$root/target/debug/pushtrace
    [[ -x $pushtrace ]] || pushtrace=$root/target/release/pushtrace
fi
[[ -x $pushtrace ]] || { echo "no pushtrace binary at $pushtrace (cargo build first)" >&2; exit 2; }
command -v tshark >/dev/null || { echo "tshark is not installed" >&2; exit 2; }

show=()
while (($#)); do
    case $1 in
        --show) show+=("$2"); shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

# Wireshark 3.6 and later call the packet comment frame.comment; older ones pkt_comment
# (which 3.6 and later know only as a protocol name: its "value" is the name itself).
known_fields=$(tshark -G fields 2>/dev/null | cut -f3)
if grep -qx 'frame.comment' <<<"$known_fields"; then
    comment_field=frame.comment
elif grep -qx 'pkt_comment' <<<"$known_fields"; then
    comment_field=pkt_comment
else
    echo "this tshark knows neither frame.comment nor pkt_comment" >&2; exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
# check NAME FILE...: the evidence of FILE... (one group), checked with tshark.
check() {
    local name=$1; shift
    local out=$work/$name.pcapng
    local err
    err=$("$pushtrace" analyze --no-progress --evidence "$out" "$@" 2>&1 >/dev/null) || true
    if grep -q 'evidence:' <<<"$err"; then
        echo "FAIL $name: $err"; failed=1; return
    fi
    local wrote
    wrote=$(sed -n 's/^pushtrace: wrote \([0-9]*\) frame(s) to .*/\1/p' <<<"$err")
    local fields
    if ! fields=$(tshark -r "$out" -T fields -E separator=/t -e frame.number -e "$comment_field" 2>"$work/tshark.err"); then
        echo "FAIL $name: tshark cannot read the file: $(cat "$work/tshark.err")"; failed=1; return
    fi
    local frames uncommented
    frames=$(grep -c . <<<"$fields" || true)
    uncommented=$(awk -F'\t' -v field="$comment_field" '$2 == "" || $2 == field { n++ } END { print n + 0 }' <<<"$fields")
    if [[ $frames != "$wrote" || $uncommented != 0 ]]; then
        echo "FAIL $name: pushtrace wrote ${wrote:-?} frame(s), tshark reads $frames, $uncommented without a comment"
        failed=1
    else
        echo "ok   $name: $frames frame(s), each with a comment ($comment_field)"
    fi
    local s
    for s in "${show[@]}"; do
        if [[ $s == "$name" ]]; then
            echo "---- tshark -r $name.pcapng -T fields -e frame.number -e $comment_field"
            printf '%s\n' "$fields"
            echo "----"
        fi
    done
}

for f in "$samples"/*.pcapng "$samples"/*.pcap "$samples"/*.cap "$samples"/*.gz; do
    [[ -e $f ]] || continue
    name=$(basename "$f"); name=${name%%.*}
    check "$name" "$f"
done
check two-points-healthy "$samples"/two-points-healthy-client.pcapng "$samples"/two-points-healthy-server.pcapng
check path-dropped-both-ends "$samples"/path-dropped-client-side.pcapng "$samples"/path-dropped-server-side.pcapng
check ring-buffer "$samples"/ring-buffer_*.pcapng
exit $failed
