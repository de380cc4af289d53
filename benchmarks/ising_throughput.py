"""Throughput of hessgeo's Ising sampler against a plain vectorised NumPy checkerboard Metropolis.

Both run the same algorithm on the same work: checkerboard Metropolis on P periodic L x L lattices, one lattice per
parameter point (T, H), spread over T around T_c and a few fields. A "spin update" is one attempted flip of one spin,
so one sweep of one lattice is L*L updates. Numba compilation is excluded by a warm-up call of the timed call's own
engine, sizes and burn-in (so it reaches every driver the timed calls run), and the record counts the numba compilations
that happened during the timed calls all the same (`compilations_while_timed`: 0 when the warm-up reached every path);
each timed run does enough sweeps to last at least `--min-seconds`. hessgeo is timed through its public `sample_ising` (burn-in plus samples,
statistics recorded every `--sweeps-between` sweeps, lattices not kept), so its number includes the measurement cost
that the NumPy baseline does not pay. It runs on `--threads` threads, by default every CPU this process may use (the
warm-up and the timed runs on the same count, whatever the package's thread rule would choose for their sizes). (The first burn-in sweeps also pick how the multi-spin engine spreads one group
of 64 lattices over threads: rows in parallel on a quiet machine, one core when others compete for the cores.)

    python benchmarks/ising_throughput.py [--L 64] [--points 64] [--min-seconds 2] [--sweeps-between 10]
    python benchmarks/ising_throughput.py --quick            # L = 32, 64 points (the multi-spin engine, as the full run), short runs

Results: hessgeo_updates_per_s, numpy_updates_per_s, ratio, the engine hessgeo used, compilations_while_timed, and, when the device is a CUDA
GPU, gpu_updates_per_s (the torch engine at --gpu-L with --gpu-points points, against the same NumPy figure:
gpu_ratio). The common arguments and the record are those of benchmarks/common.py.
"""
from __future__ import annotations
import time

import numpy as np

from common import cpu_count, numba_compilations, parser, start
from hessgeo.core import use_threads
from hessgeo.ising import sample_ising, acceptance_table


def points(P:int) -> tuple[np.ndarray, np.ndarray]:
    "P parameter points: T spread around T_c (1.5 .. 3.5), fields cycling through 0, 0.05, -0.1, 0.2"
    T = np.linspace(1.5, 3.5, P)
    H = np.resize(np.array([0.0, 0.05, -0.1, 0.2]), P)
    return T, H


class NumpyCheckerboard:
    "Plain vectorised NumPy checkerboard Metropolis over P lattices: np.roll neighbours, np.random uniforms, exp table"
    def __init__(self, T, H, L, seed=0):
        self.P, self.L = len(T), L
        self.acc = acceptance_table(T, H).ravel()  # (P*10,), index 5*[s=+1] + (n+4)/2 per lattice
        self.off = (np.arange(self.P) * 10)[:, None, None]
        ij = np.add.outer(np.arange(L), np.arange(L)) % 2
        self.masks = [ij == 0, ij == 1]
        self.rng = np.random.default_rng(seed)
        self.x = np.where(np.asarray(H)[:, None, None] >= 0, 1, -1).astype(np.int8) * np.ones((1, L, L), np.int8)

    def sweeps(self, n:int):
        x = self.x
        for _ in range(n):
            for m in self.masks:
                nn = np.roll(x, 1, 1) + np.roll(x, -1, 1) + np.roll(x, 1, 2) + np.roll(x, -1, 2)
                k = (x > 0) * 5 + (nn + 4) // 2 + self.off
                flip = (self.rng.random(x.shape) < self.acc[k]) & m
                x = np.where(flip, -x, x)
        self.x = x


def time_numpy(T, H, L, min_seconds, seed=0):
    "Spin updates per second of the NumPy baseline (after a warm-up), growing the run until it lasts min_seconds"
    sim = NumpyCheckerboard(T, H, L, seed=seed)
    sim.sweeps(3)
    n = 4
    while True:
        t0 = time.perf_counter(); sim.sweeps(n); dt = time.perf_counter() - t0
        if dt >= min_seconds: return len(T) * L * L * n / dt, n, dt
        n = int(n * max(2.0, 1.2 * min_seconds / max(dt, 1e-3)))


def time_hessgeo(T, H, L, min_seconds, sweeps_between, **kw):
    "Spin updates per second of sample_ising (after a warm-up call that compiles), growing the run until it lasts min_seconds"
    # the timed calls' burn-in, so the warm-up reaches every path they time (in its first burn-in sweeps the
    # multi-spin engine times both of its drivers, after compiling them)
    sample_ising(T, H, L, 2, burn_in=100, sweeps_between=sweeps_between, progress=False, keep_spins=False, **kw)
    S, compiled = 4, 0
    while True:
        with numba_compilations() as c:
            t0 = time.perf_counter()
            r = sample_ising(T, H, L, S, burn_in=100, sweeps_between=sweeps_between, progress=False, keep_spins=False, **kw)
            dt = time.perf_counter() - t0
        compiled += len(c)
        if dt >= min_seconds:
            engine = r.info['engine'] + (f", threads over {r.info['driver']}" if 'driver' in r.info else '')
            return r.info['spin_updates'] / dt, 100 + S * sweeps_between, dt, engine, compiled
        S = int(S * max(2.0, 1.2 * min_seconds / max(dt, 1e-3)))


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--L', type=int, default=64, help='lattice side')
    ap.add_argument('--points', type=int, default=64, help='parameter points (one lattice each)')
    ap.add_argument('--min-seconds', type=float, default=2.0, help='shortest timed run')
    ap.add_argument('--sweeps-between', type=int, default=10, help='hessgeo: sweeps between recorded samples')
    ap.add_argument('--gpu-L', type=int, default=128, help='lattice side of the GPU run')
    ap.add_argument('--gpu-points', type=int, default=1024, help='parameter points of the GPU run')
    run = start('ising_throughput', ap, argv, devices=('cpu', 'cuda'))
    a = run.args
    if a.quick: a.L, a.points, a.min_seconds, a.gpu_L, a.gpu_points = 32, 64, 0.2, 32, 64
    T, H = points(a.points)
    print(f'L={a.L}, P={a.points} lattices')
    # one thread count for the warm-up and the timed runs, whatever their sizes: the multi-spin engine's first burn-in
    # sweeps choose its driver on several threads only, so a warm-up on fewer threads would leave that path cold
    with use_threads(a.threads or cpu_count()):
        hg, hg_sweeps, hg_dt, engine, compiled = time_hessgeo(T, H, a.L, a.min_seconds, a.sweeps_between, backend='numba', seed=a.seed)
    print(f'hessgeo ({engine}): {hg:.3e} spin updates/s ({hg_sweeps} sweeps in {hg_dt:.2f} s; numba compilations while timed: {compiled})')
    npu, np_sweeps, np_dt = time_numpy(T, H, a.L, a.min_seconds, seed=a.seed)
    print(f'numpy checkerboard: {npu:.3e} spin updates/s ({np_sweeps} sweeps in {np_dt:.2f} s)')
    out = dict(hessgeo_updates_per_s=hg, numpy_updates_per_s=npu, ratio=hg / npu, engine=engine, compilations_while_timed=compiled, L=a.L, points=a.points,
               sweeps_between=a.sweeps_between)
    print(f'ratio: {hg / npu:.1f}')
    if run.device.type == 'cuda':
        Tg, Hg = points(a.gpu_points)
        gpu, g_sweeps, g_dt, g_engine, _ = time_hessgeo(Tg, Hg, a.gpu_L, a.min_seconds, a.sweeps_between, backend='torch',
                                                     device=run.device, seed=a.seed)
        print(f'gpu ({g_engine}, L={a.gpu_L}, P={a.gpu_points}): {gpu:.3e} spin updates/s ({g_sweeps} sweeps in {g_dt:.2f} s)')
        out.update(gpu_updates_per_s=gpu, gpu_ratio=gpu / npu, gpu_engine=g_engine, gpu_L=a.gpu_L, gpu_points=a.gpu_points)
    run.finish(out)


if __name__ == '__main__':
    main()
