"""What every benchmark shares: the common arguments, one set of machine-information keys, and the JSON record.

A benchmark script (run as `python benchmarks/<name>.py`, so this folder is on `sys.path`) does

    ap = parser(__doc__)                      # --threads --quick --seed --device --out, then its own arguments
    ap.add_argument(...)
    run = start('<name>', ap)                 # parses, sets the threads, resolves the device, notes the machine
    ... times the project's code and its reference side by side, using run.args, run.device ...
    run.finish(results)                       # prints the record as the last line, writes it to results/<name>.json

The record is one JSON object (strict JSON: a non-finite number is written as null):

    {"benchmark": name, "command": "python benchmarks/<name>.py ...", "quick": bool, "seed": int,
     "machine": {started, finished, cpu_count, cpu, device, device_name, threads, python, numpy, torch, numba,
                 hessgeo, commit, load_avg_start, load_avg_end},
     "results": {... the benchmark's own figures ...}}

`cpu_count` is the number of CPUs this process may run on, `threads` the torch and numba threads set with `--threads`
(also for hessgeo's own work, through HESSGEO_THREADS), or 'thread rule' where the package chose per piece of work,
`load_avg_start` / `load_avg_end` the 1-minute load average when it started and when it finished (other work on the
machine changes every timing: the record says how much there was). No host name is recorded.

A full run writes its record atomically to `benchmarks/results/<name>.json` (or `--out`), which
`nbs/benchmarks.ipynb` shows. A `--quick` run is a smoke run at tiny sizes, not a result: it is written only where
`--out` says.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
# As the `hessgeo` command does: OpenMP threads sleep at barriers instead of spinning (read when torch and numba load OpenMP,
# so each script imports this module before torch)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import platform
import shlex
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / 'results'


def parser(doc:str) -> argparse.ArgumentParser:
    "An argument parser with the benchmarks' common arguments; its description is the script's docstring"
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group('common to every benchmark')
    g.add_argument('--threads', type=int, default=None,
                   help="torch and numba threads for all the benchmark runs, the package's work included (HESSGEO_THREADS); "
                        "default: the package's thread rule (hessgeo.core.thread_count)")
    g.add_argument('--quick', action='store_true', help='tiny sizes: a smoke run, not a result (written only with --out)')
    g.add_argument('--seed', type=int, default=0, help='master seed of every random choice')
    g.add_argument('--device', default=None,
                   help="device to time: 'cpu', 'cuda', 'cuda:1'... (default: CUDA when available and the benchmark "
                        "has a GPU part, else the CPU)")
    g.add_argument('--out', default=None,
                   help='JSON file for the record (default: benchmarks/results/<name>.json; a --quick run: none)')
    return ap


@contextmanager
def numba_compilations():
    "Yields a list that ends up holding one entry per numba compilation (or cache load) started inside the block"
    from numba.core import event
    with event.install_recorder('numba:compile') as rec:
        out = []
        yield out
    out.extend(e for _, e in rec.buffer if e.status == event.EventStatus.START)


def cpu_count() -> int:
    "CPUs this process may run on (its affinity mask, not the machine's count): `hessgeo.core.cpu_count`"
    from hessgeo.core import cpu_count as cpus
    return cpus()


def cpu_model() -> str:
    "The CPU's model name (from /proc/cpuinfo on Linux)"
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def load_avg() -> float|None:
    "The 1-minute load average (None where the system has none)"
    try: return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError): return None


def set_threads(n:int) -> int:
    "Run torch and numba on `n` threads here, in hessgeo's own work (HESSGEO_THREADS) and in the subprocesses; returns `n`"
    from hessgeo.core import THREADS_ENV
    os.environ[THREADS_ENV] = str(n)   # the package's thread rule gives way to a chosen count
    import numba, torch
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)   # after numba: with numba's OpenMP layer both pools share one OpenMP setting
    return n


def git_commit() -> str|None:
    "The repository's commit, with '+' when tracked files differ from it (None outside a git checkout)"
    try:
        run = lambda *a: subprocess.run(['git', *a], cwd=HERE, capture_output=True, text=True, timeout=10)
        head = run('rev-parse', '--short', 'HEAD')
        if head.returncode: return None
        dirty = run('status', '--porcelain', '--untracked-files=no').stdout.strip()
        return head.stdout.strip() + ('+' if dirty else '')
    except (OSError, subprocess.SubprocessError): return None


def now() -> str:
    "The time now, UTC, to the second, ISO 8601"
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Run:
    "One benchmark run: its arguments, the device it times, and the machine information noted at the start"
    name:str  # the benchmark's name: the record's file is results/<name>.json
    args:argparse.Namespace  # parsed arguments (the common ones and the benchmark's own)
    device:object  # the resolved torch.device
    machine:dict = field(default_factory=dict)  # machine information, completed by `finish`

    def finish(self, results:dict, *, name:str|None=None) -> dict:
        "Complete the record, print it as the last line, write it (full runs, or with --out); returns the record"
        self.machine.update(finished=now(), load_avg_end=load_avg())
        name = name or self.name
        from hessgeo.results import json_ready   # the package's strict-JSON conversion: non-finite numbers become null
        rec = json_ready(dict(benchmark=name, command=command(), quick=bool(self.args.quick), seed=self.args.seed,
                              machine=self.machine, results=results))
        out = self.args.out or (None if self.args.quick else RESULTS / f'{name}.json')
        if out is not None: write_record(rec, out)
        print(json.dumps(rec, allow_nan=False), flush=True)
        return rec


def command() -> str:
    "The command line that started this process, as a user would type it"
    script = Path(sys.argv[0])
    try: script = script.resolve().relative_to(HERE.parent)
    except ValueError: pass
    return shlex.join(['python', str(script), *sys.argv[1:]])


def write_record(rec:dict, path) -> Path:
    "Write the record `rec` to `path` as indented strict JSON, atomically"
    from hessgeo.core import atomic_path
    path = Path(path)
    with atomic_path(path) as tmp: tmp.write_text(json.dumps(rec, indent=1, allow_nan=False) + '\n')
    return path


def start(name:str, ap:argparse.ArgumentParser, argv=None, *, devices=('cpu',)) -> Run:
    "Parse the arguments, set the threads, resolve the device among `devices` and note the machine: the run's start"
    import numpy, torch
    from hessgeo.core import resolve_device
    args = ap.parse_args(argv)
    if args.threads is not None and args.threads < 1: ap.error(f"--threads must be at least 1, got {args.threads}")
    threads = set_threads(args.threads) if args.threads is not None else 'thread rule'   # else hessgeo chooses per piece of work
    try: dev = resolve_device(args.device)
    except ValueError as e: ap.error(f"--device {args.device}: {e}")
    if dev.type not in devices:
        if args.device is not None: ap.error(f"--device {args.device}: this benchmark times {' and '.join(devices)} only")
        dev = torch.device('cpu')
    try: import numba; numba_version = numba.__version__
    except ImportError: numba_version = None
    import hessgeo
    machine = dict(started=now(), finished=None, cpu_count=cpu_count(), cpu=cpu_model(), device=str(dev),
                   device_name=torch.cuda.get_device_name(dev) if dev.type == 'cuda' else cpu_model(), threads=threads,
                   python=platform.python_version(), numpy=numpy.__version__, torch=torch.__version__,
                   numba=numba_version, hessgeo=hessgeo.__version__, commit=git_commit(),
                   load_avg_start=load_avg(), load_avg_end=None)
    print(f"{name}: {machine['device_name']} ({dev}), threads: {threads} (of {machine['cpu_count']} CPUs), "
          f"torch {torch.__version__}, seed {args.seed}{', quick sizes (not a result)' if args.quick else ''}", flush=True)
    return Run(name, args, dev, machine)
