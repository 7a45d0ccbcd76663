#!/usr/bin/env python3
"""Measurement helper for scripts/bench.sh.

    measure.py run [--stdout FILE] [--label K=V ...] -- COMMAND...
        Runs COMMAND and prints one JSON object: wall time, user and system CPU time
        (from wait4, exact), the peak resident set (ru_maxrss, which counts the pages of a
        memory-mapped input file) and, sampled from /proc/PID/status every 2 ms, the peaks
        of RssAnon (anonymous memory: heap, stacks - what the program allocates), RssFile
        (mapped file pages) and VmRSS. The labels are copied into the object.

    measure.py table FILE
        Reads the JSON objects (one per line) written by `run` and prints the benchmark
        tables: per file and tool (floor, baseline, analyze, tshark) the median over runs,
        MB/s, frames/s, throughput relative to the floor (the bare record walk), pushtrace's
        speed-up over tshark (extrapolated linearly by size where tshark was not run on the
        file) and peak memory.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time

FIELDS = ("VmRSS", "RssAnon", "RssFile")


def run(argv):
    stdout_path = None
    labels = {}
    while argv and argv[0] != "--":
        if argv[0] == "--stdout":
            stdout_path = argv[1]
            argv = argv[2:]
        elif argv[0] == "--label":
            key, _, value = argv[1].partition("=")
            labels[key] = value
            argv = argv[2:]
        else:
            sys.exit(f"measure.py: unknown option {argv[0]}")
    command = argv[1:]
    if not command:
        sys.exit("measure.py run: no command")
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    peaks = dict.fromkeys(FIELDS, 0)
    samples = 0
    done = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=out)

    def sample():
        nonlocal samples
        path = f"/proc/{proc.pid}/status"
        while not done.is_set():
            try:
                with open(path) as f:
                    text = f.read()
            except OSError:
                return
            for line in text.splitlines():
                key, _, value = line.partition(":")
                if key in peaks:
                    peaks[key] = max(peaks[key], int(value.split()[0]))
            samples += 1
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if stdout_path:
        out.close()
    result = dict(labels)
    result.update(
        {
            "command": command,
            "exit": os.waitstatus_to_exitcode(status),
            "wall_s": wall,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "max_rss_kib": usage.ru_maxrss,
            "peak_anon_kib": peaks["RssAnon"],
            "peak_file_kib": peaks["RssFile"],
            "peak_rss_sampled_kib": peaks["VmRSS"],
            "samples": samples,
        }
    )
    print(json.dumps(result))


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    files = []
    for r in rows:
        if r["file"] not in files:
            files.append(r["file"])
    tools = ["floor", "baseline", "analyze", "tshark"]
    # tshark's seconds per byte, from the files it ran on, for extrapolation.
    tshark_rate = [
        statistics.median(x["wall_s"] for x in rows if x["file"] == f and x["tool"] == "tshark")
        / int(next(x["bytes"] for x in rows if x["file"] == f))
        for f in files
        if any(x["file"] == f and x["tool"] == "tshark" for x in rows)
    ]
    mib = 1024.0
    header = (
        f"{'file':<32} {'tool':<8} {'runs':>4} {'wall s':>8} {'cpu s':>8} {'MB/s':>7} "
        f"{'cpu MB/s':>8} {'frames/s':>10} {'vs floor':>8} {'(cpu)':>6} {'anon MiB':>8} "
        f"{'RSS MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    summary = []
    for f in files:
        size = int(next(x["bytes"] for x in rows if x["file"] == f))
        frames = int(next(x["frames"] for x in rows if x["file"] == f))
        wall_of, cpu_of = {}, {}
        for tool in tools:
            runs = [x for x in rows if x["file"] == f and x["tool"] == tool]
            if not runs:
                continue
            wall = statistics.median(x["wall_s"] for x in runs)
            cpu = statistics.median(x["user_s"] + x["sys_s"] for x in runs)
            anon = max(x["peak_anon_kib"] for x in runs) / mib
            rss = max(x["max_rss_kib"] for x in runs) / mib
            wall_of[tool], cpu_of[tool] = wall, cpu
            ratio = wall_of["floor"] / wall if "floor" in wall_of else float("nan")
            cpu_ratio = cpu_of["floor"] / cpu if "floor" in cpu_of else float("nan")
            print(
                f"{os.path.basename(f):<32} {tool:<8} {len(runs):>4} {wall:>8.3f} {cpu:>8.3f} "
                f"{size / 1e6 / wall:>7.0f} {size / 1e6 / cpu:>8.0f} {frames / wall:>10.0f} "
                f"{ratio:>8.0%} {cpu_ratio:>6.0%} {anon:>8.1f} {rss:>8.1f}"
            )
        tshark = wall_of.get("tshark")
        extrapolated = tshark is None and bool(tshark_rate)
        if extrapolated:
            tshark = statistics.median(tshark_rate) * size
        if "analyze" in wall_of:
            line = (
                f"{os.path.basename(f)}: analyze at {wall_of['floor'] / wall_of['analyze']:.0%} "
                f"of the floor's throughput ({cpu_of['floor'] / cpu_of['analyze']:.0%} by CPU time)"
            )
            if "baseline" in wall_of:
                line += (
                    f"; the baseline at {wall_of['floor'] / wall_of['baseline']:.0%} "
                    f"({cpu_of['floor'] / cpu_of['baseline']:.0%} by CPU time)"
                )
            if tshark:
                note = " (tshark's time extrapolated by size)" if extrapolated else ""
                line += f", {tshark / wall_of['analyze']:.0f}x tshark's{note}"
            summary.append(line)
    print()
    for line in summary:
        print(line)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        run(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
