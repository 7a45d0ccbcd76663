#!/usr/bin/env python3
"""Cross-checks pushtrace's frame numbers on the bundled samples against tshark (not part of CI).

For every capture in samples/, compares the frames pushtrace cites with the frames tshark's
dissectors mark: binds and their answers, the frame completing each request and each
response or fault (the last fragment, Wireshark's convention for reassembled PDUs), the
notification datagrams and the ICMP errors.

Known, explained differences:
- snaplen-cut, snaplen-120: with tcp.reassemble_out_of_order, tshark keeps waiting for the
  missing tail of a PDU cut by the snap length and then never decodes the next, whole PDU
  ("TCP segment of a reassembled PDU"); pushtrace lists those whole PDUs. Without that option
  tshark reports exactly pushtrace's frames on both samples.

Usage: scripts/tshark-check-samples.py [PUSHTRACE_BINARY]   (default target/release/pushtrace)
Needs tshark (apt-get install tshark). Exits 1 when a sample disagrees.
"""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "pushtrace")
# tshark must reassemble out-of-order segments and decode the dynamic EMSMDB port (1032 in
# the samples) as DCE/RPC, as pushtrace does by content.
TSHARK = ["tshark", "-2", "-o", "tcp.reassemble_out_of_order:TRUE", "-d", "tcp.port==1032,dcerpc",
          "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
          "-e", "frame.number", "-e", "dcerpc.pkt_type", "-e", "dcerpc.cn_flags",
          "-e", "udp.length", "-e", "icmp.type", "-e", "icmpv6.type"]
BIND_TYPES = {11, 12, 13, 14, 15}


def tshark_frames(capture):
    # tshark exits 2 on a file cut mid-record but still prints every complete frame.
    out = subprocess.run(TSHARK + ["-r", str(capture)], capture_output=True, text=True, check=False).stdout
    sets = {"binds": set(), "requests": set(), "responses": set(), "datagrams": set(), "icmp": set()}
    for line in out.splitlines():
        frame, types, flags, udp_len, icmp, icmp6 = (line.split("\t") + [""] * 6)[:6]
        frame = int(frame)
        for t, f in zip(filter(None, types.split(",")), filter(None, flags.split(","))):
            t, f = int(t), int(f, 16)
            if t in BIND_TYPES:
                sets["binds"].add(frame)
            elif t == 0 and f & 0x02:
                sets["requests"].add(frame)
            elif t in (2, 3) and f & 0x02:
                sets["responses"].add(frame)
        if udp_len and not icmp and not icmp6 and 8 < int(udp_len.split(",")[0]) <= 24:
            sets["datagrams"].add(frame)
        if icmp.split(",")[0] == "3" or icmp6.split(",")[0] == "1":
            sets["icmp"].add(frame)
    return sets


def pushtrace_frames(capture):
    rpc = json.loads(subprocess.run([BINARY, "rpc", "--format", "json", str(capture)], capture_output=True, check=False).stdout)
    analysis = json.loads(subprocess.run([BINARY, "analyze", "--format", "json", str(capture)], capture_output=True, check=False).stdout)
    return {
        "binds": {b["frame"] for b in rpc["binds"]},
        "requests": {c["request_frame"] for c in rpc["calls"]},
        "responses": {c["response_frame"] for c in rpc["calls"] if c["response_frame"]},
        "datagrams": {d["frame"] for s in analysis["sessions"] for d in s["datagrams"]},
        "icmp": {e["frame"] for s in analysis["sessions"] for e in s["icmp_errors"]},
    }


def main():
    failed = False
    captures = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".pcap", ".pcapng", ".cap", ".gz"))
    for capture in captures:
        ours, theirs = pushtrace_frames(capture), tshark_frames(capture)
        diffs = [f"{k}: pushtrace-only {sorted(ours[k] - theirs[k])} tshark-only {sorted(theirs[k] - ours[k])}"
                 for k in ours if ours[k] != theirs[k]]
        counts = " ".join(f"{k}={len(v)}" for k, v in ours.items())
        print(f"{'OK  ' if not diffs else 'DIFF'} {capture.name}: {counts}")
        for d in diffs:
            print(f"     {d}")
        failed |= bool(diffs)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
