"""A soak test (not part of CI): one long training run with its resident memory sampled.

    python -m seqfw.bench.soak                       # 30 minutes, a sample a minute, default training config
    python -m seqfw.bench.soak --minutes 5 --interval 10 -- task=char_lm cell=gru

Starts ``python -m seqfw`` with enough steps to outlast ``--minutes`` (tracking into a fresh
store in a temporary directory), reads the process's resident set size from /proc every
``--interval`` seconds, stops the run with SIGTERM at the end (which exercises the
checkpoint-on-interrupt path too) and prints the samples and the verdict: growth after the
warm-up (the first ``--warmup`` minutes) relative to the RSS at the end of the warm-up,
against ``--limit`` (5% by default). Linux only (/proc).
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def soak(minutes: float, interval: float, warmup: float, limit: float, overrides: list[str]) -> int:
    work = Path(tempfile.mkdtemp(prefix="seqfw-soak-"))
    cmd = [sys.executable, "-m", "seqfw", "train.steps=100000000", "train.progress=false",
           f"hydra.run.dir={work / 'run'}", *overrides]
    print(f"soak: {' '.join(cmd[2:])}\n      in {work}, {minutes:g} min, a sample every {interval:g} s", flush=True)
    log = open(work / "stderr.txt", "w")  # a file, not a pipe: a pipe nobody reads can stall the run
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=log)
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < minutes * 60:
            if proc.poll() is not None:
                print(f"soak: the run ended early (exit {proc.returncode}):\n{(work / 'stderr.txt').read_text()[-2000:]}")
                return 1
            mb = rss_mb(proc.pid)
            if mb is not None:
                samples.append((elapsed / 60, mb))
                print(f"  {elapsed / 60:6.1f} min  RSS {mb:8.1f} MB", flush=True)
            time.sleep(interval)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    after = [mb for t, mb in samples if t >= warmup]
    if len(after) < 2:
        print("soak: too few samples after the warm-up for a verdict; run longer")
        return 1
    base, peak, last = after[0], max(after), after[-1]
    growth = (peak - base) / base
    verdict = "within" if growth <= limit else "ABOVE"
    print(f"soak: after {warmup:g} min of warm-up RSS went {base:.1f} -> {last:.1f} MB (peak {peak:.1f}): "
          f"{growth:+.1%}, {verdict} the {limit:.0%} limit; the run's exit on SIGTERM: {proc.returncode}")
    return 0 if growth <= limit else 2


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m seqfw.bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--interval", type=float, default=60.0, help="seconds between RSS samples")
    p.add_argument("--warmup", type=float, default=2.0, help="minutes left out of the verdict")
    p.add_argument("--limit", type=float, default=0.05, help="allowed growth after the warm-up (0.05 = 5%%)")
    p.add_argument("overrides", nargs="*", help="seqfw overrides, after --")
    args = p.parse_args(argv)
    if not Path("/proc/self/status").exists():
        p.exit(2, "error: the soak test reads /proc (Linux only)\n")
    return soak(args.minutes, args.interval, args.warmup, args.limit, args.overrides)


if __name__ == "__main__":
    raise SystemExit(main())
