#!/usr/bin/env python3
"""Runs `pushtrace analyze` over captures the generator did not write and summarises what a
reviewer must check by hand: crashes and timeouts, the sessions each file gives (with their
verdicts), and the warnings by code. Not part of CI: real captures are not committed.

    scripts/corpus.py [--bin target/release/pushtrace] [--timeout 60] DIR_OR_FILE...

Files are taken by extension (.pcap, .pcapng, .cap, .pcap.gz, .pcapng.gz, .trace). Prints one
line per file with sessions or warnings, then totals. Exit status 1 when any run crashed.
"""

import argparse
import collections
import json
import os
import subprocess
import sys

EXTENSIONS = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".trace", ".dmp")


def captures(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                for f in sorted(files):
                    if f.lower().endswith(EXTENSIONS):
                        yield os.path.join(root, f)
        else:
            yield p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/release/pushtrace")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    totals = collections.Counter()
    codes = collections.Counter()
    crashed = 0
    for path in captures(args.paths):
        totals["files"] += 1
        try:
            run = subprocess.run(
                [args.bin, "analyze", "--format", "json", "--no-progress", path],
                capture_output=True,
                timeout=args.timeout,
            )
        except subprocess.TimeoutExpired:
            print(f"TIMEOUT {path}")
            crashed += 1
            continue
        if run.returncode not in (0, 1, 2, 3) or b"panicked" in run.stderr:
            print(f"CRASH {path}: exit {run.returncode}: {run.stderr[-300:]!r}")
            crashed += 1
            continue
        try:
            report = json.loads(run.stdout)
        except json.JSONDecodeError:
            print(f"UNREADABLE {path}: exit {run.returncode}: {run.stderr[-200:]!r}")
            continue
        warnings = collections.Counter(
            w["code"] for i in report["inputs"] for w in i["warning_details"]
        )
        codes.update(warnings)
        totals["warnings"] += sum(warnings.values())
        totals["sessions"] += len(report["sessions"])
        sessions = ", ".join(
            f"{s['client']}→{s['server']} {s['verdict']}" for s in report["sessions"]
        )
        if sessions or warnings:
            vantage = report["inputs"][0].get("vantage", "-") if report["inputs"] else "-"
            print(f"{path}: {report['verdict']} at {vantage}; {sessions or 'no session'}; "
                  f"warnings {dict(warnings)}")
    print(f"\n{totals['files']} files, {totals['sessions']} sessions, "
          f"{totals['warnings']} warnings, {crashed} crashed or timed out")
    for code, n in codes.most_common():
        print(f"  {code}: {n}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
