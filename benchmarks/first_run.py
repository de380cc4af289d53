"""First run: the default `hessgeo ising` and `hessgeo tasep` end to end, as a new user runs them, on a quiet machine
and beside busy programs.

Each job runs twice as the command a user types, `hessgeo <job> --out <fresh folder> --quiet` (through
`hessgeo.cli.main`, as the console script does), in a subprocess this benchmark times (so every run starts from a fresh folder, imports the package and samples its data):
once on the quiet machine, once while `--busy` CPU-bound processes (`python -c "while True: pass"`, started and stopped
by the benchmark) compete for the cores. Before the timed runs, each job runs once at its 'quick' preset, untimed, so
that both timed runs find numba's compiled kernels in its cache and neither pays the compilation.

    python benchmarks/first_run.py                 # both jobs at their default presets (minutes each on 2 cores)
    python benchmarks/first_run.py --only ising    # one job
    python benchmarks/first_run.py --quick         # the 'quick' presets: a smoke run of the benchmark itself

Results: `quiet_s`, `loaded_s` (wall-clock seconds of `hessgeo ising`), `metric_median_rel_err` and `ridge_rel_err`
(its median relative error of the metric against the exact one, and the relative error of its heat-capacity ridge
against Kaufman's peak at H = 0), and for TASEP `tasep_quiet_s`, `tasep_loaded_s`, `tasep_metric_median_rel_err`; the
CPU seconds of each run (`*_cpu_s`, the subprocess and its threads); the errors of the loaded runs (`*_loaded_...`:
the thread rule looks at the work, not at the load, so they equal the quiet runs'); `busy`, the competing processes;
`threads`, what the jobs were given (`--threads` passes HESSGEO_THREADS to them; by default the package's thread
rule chooses). The common arguments and the record are those of benchmarks/common.py.
"""
from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from common import parser, start

JOBS = ('ising', 'tasep')
PREFIX = {'ising': '', 'tasep': 'tasep_'}   # the record's keys of each job
CLI = 'import sys; from hessgeo.cli import main; sys.exit(main())'   # the `hessgeo` command, whatever the PATH


@contextmanager
def busy_processes(n:int):
    "Start `n` CPU-bound Python processes for the block; stop them afterwards, also after an error"
    procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(n)]
    try:
        time.sleep(1.0 if n else 0.0)   # let them reach the scheduler's steady state
        yield procs
    finally:
        for p in procs: p.terminate()
        for p in procs: p.wait(timeout=30)


def children_cpu() -> float:
    "CPU seconds (user + system) of the finished subprocesses of this process, all threads"
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_job(job:str, preset:str, seed:int, *, extra:tuple=()) -> dict:
    "Run `hessgeo <job>` as a subprocess in a fresh folder: wall and CPU seconds and the job's headline errors"
    from hessgeo.results import load_results
    with tempfile.TemporaryDirectory(prefix='hessgeo_first_run_') as d:
        cmd = [sys.executable, '-c', CLI, job, '--preset', preset, '--seed', str(seed), '--out', d, '--quiet', *extra]
        c0, t0 = children_cpu(), time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t0, children_cpu() - c0
        if done.returncode: raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        method = load_results(Path(d) / f'{job}_results.json').summary['method']
    return dict(seconds=wall, cpu_seconds=cpu, metric_median_rel_err=method['metric_median_rel_err'],
                ridge_rel_err=method.get('ridge_rel_err'))


def job_results(job:str, run) -> dict:
    "The record's figures of one job: a warm-up at the quick preset, then the timed quiet and loaded runs"
    a, p = run.args, PREFIX[job]
    preset = 'quick' if a.quick else 'default'
    warm = run_job(job, 'quick', a.seed, extra=('--no-baselines',))
    print(f"{job}: warm-up (quick preset) {warm['seconds']:.1f} s", flush=True)
    quiet = run_job(job, preset, a.seed)
    print(f"{job}: quiet {quiet['seconds']:.1f} s (CPU {quiet['cpu_seconds']:.1f} s), metric error {quiet['metric_median_rel_err']:.2%}", flush=True)
    with busy_processes(a.busy):
        loaded = run_job(job, preset, a.seed)
    print(f"{job}: beside {a.busy} busy processes {loaded['seconds']:.1f} s (CPU {loaded['cpu_seconds']:.1f} s), "
          f"metric error {loaded['metric_median_rel_err']:.2%}", flush=True)
    out = {f'{p}quiet_s': quiet['seconds'], f'{p}loaded_s': loaded['seconds'],
           f'{p}metric_median_rel_err': quiet['metric_median_rel_err'],
           f'{p}quiet_cpu_s': quiet['cpu_seconds'], f'{p}loaded_cpu_s': loaded['cpu_seconds'],
           f'{p}loaded_metric_median_rel_err': loaded['metric_median_rel_err'], f'{p}warmup_s': warm['seconds']}
    if quiet['ridge_rel_err'] is not None:
        out.update({f'{p}ridge_rel_err': quiet['ridge_rel_err'], f'{p}loaded_ridge_rel_err': loaded['ridge_rel_err']})
    return out


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--only', nargs='+', default=list(JOBS), choices=list(JOBS), help='jobs to run (default: both)')
    ap.add_argument('--busy', type=int, default=2, help='CPU-bound processes running beside the loaded runs (default: 2)')
    run = start('first_run', ap, argv)
    if run.args.busy < 0: ap.error(f"--busy must be >= 0, got {run.args.busy}")
    results = dict(busy=run.args.busy, threads=run.args.threads or 'thread rule',
                   preset='quick' if run.args.quick else 'default')
    for job in run.args.only: results.update(job_results(job, run))
    name = 'first_run' if set(run.args.only) == set(JOBS) else 'first_run_' + '_'.join(run.args.only)
    run.finish(results, name=name)


if __name__ == '__main__':
    main()
