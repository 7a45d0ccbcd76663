#!/usr/bin/env python3
"""Writes a second capture point's view of a pcap file: the same packets, the clock SECONDS
ahead (the benchmark of two views of one trace, scripts/bench.sh --views).

    second-view.py IN.pcap OUT.pcap [SECONDS]     (default 2.5)

Only the record timestamps change; the packets, and so their fingerprints, stay the same.
"""

import struct
import sys


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    shift = float(argv[3]) if len(argv) == 4 else 2.5
    with open(argv[1], "rb") as src, open(argv[2], "wb") as dst:
        header = src.read(24)
        magic = struct.unpack("<I", header[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            sys.exit("second-view.py: little-endian pcap only")
        unit = 10**9 if magic == 0xA1B23C4D else 10**6
        whole, frac = int(shift), round((shift - int(shift)) * unit)
        dst.write(header)
        out = bytearray()
        while True:
            record = src.read(16)
            if len(record) < 16:
                break
            secs, part, caplen, origlen = struct.unpack("<IIII", record)
            part += frac
            secs += whole + part // unit
            part %= unit
            out += struct.pack("<IIII", secs, part, caplen, origlen)
            out += src.read(caplen)
            if len(out) > 8 << 20:
                dst.write(out)
                out = bytearray()
        dst.write(out)


if __name__ == "__main__":
    main(sys.argv)
