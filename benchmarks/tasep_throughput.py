"""Open-TASEP throughput: hessgeo's random-sequential simulator vs a vectorised NumPy reference, and the exact sampler
vs the simulator's effectively independent samples.

Both simulators run the same dynamics (one attempt = one uniformly chosen bond of N+1, fired with probability
rate / max(1, alpha, beta)) on the same N and the same batch of chains, in one process. The NumPy reference does one
attempt for every chain per vectorised step, with random numbers drawn in blocks. hessgeo runs on `--threads` threads,
by default every CPU this process may use (warm-ups and timed runs on the same count). Each timed call follows a
warm-up of the same function on the same kernels, and the record counts the numba compilations that happened during
the timed calls all the same (`compilations_while_timed`: 0 when the warm-ups reached every path).

Independent samples per second of the simulator = attempts/s / ((N+1) * tau), with tau the integrated
autocorrelation time (in sweeps) of the particle number measured at one point per phase.

    python benchmarks/tasep_throughput.py [--N 100] [--chains 4096] [--seconds 5]
    python benchmarks/tasep_throughput.py --quick     # N = 20, 256 chains, short runs: a smoke run

Results: hessgeo_attempts_per_s, numpy_attempts_per_s, ratio, hessgeo_attempts_per_s_all_bonds_tested (at
alpha = 0.9, beta = 1.3), compilations_while_timed, exact_samples_per_s, simulator_independent_samples_per_s and tau_sweeps per phase, N, chains.
The common arguments and the record are those of benchmarks/common.py.
"""
import time

import numpy as np

from common import cpu_count, numba_compilations, parser, start
from hessgeo.core import use_threads
from hessgeo.tasep import simulate_tasep, sample_tasep_exact, tasep_phase


def numpy_rsu(alpha, beta, N, B, n_steps, seed=0, block=256):
    "Vectorised NumPy random-sequential TASEP: B chains, n_steps attempts each; returns (lattices, moves)"
    rng = np.random.default_rng(seed)
    rmax = max(1.0, alpha, beta)
    thr = np.ones(N + 1); thr[0], thr[N] = alpha / rmax, beta / rmax
    s = np.zeros((B, N + 2), dtype=np.uint8); s[:, 0] = 1
    s[:, 1:N + 1] = rng.random((B, N)) < 0.5
    rows = np.arange(B)
    moves = np.zeros(B, dtype=np.int64)
    for t0 in range(0, n_steps, block):
        m = min(block, n_steps - t0)
        k = rng.integers(0, N + 1, (m, B))
        acc = (rng.random((m, B)) < thr[k]).astype(np.uint8)
        for t in range(m):
            kt = k[t]
            l, r = s[rows, kt], s[rows, kt + 1]
            mv = l & (1 - r) & acc[t]
            s[rows, kt] = l ^ mv; s[rows, kt + 1] = r ^ mv
            s[:, 0] = 1; s[:, N + 1] = 0
            moves += mv
    return s, moves


def time_numpy(al, be, N, B, seconds, seed):
    "Attempts per second of the NumPy reference, its step count calibrated (and warmed up) by a 64-step run"
    t0 = time.perf_counter(); numpy_rsu(al, be, N, B, 64, seed=seed); dt = time.perf_counter() - t0
    steps = max(64, int(seconds / dt * 64))
    t0 = time.perf_counter(); numpy_rsu(al, be, N, B, steps, seed=seed); dt = time.perf_counter() - t0
    return B * steps / dt, steps, dt


def time_hessgeo(al, be, N, P, C, sweeps, seed, compiled:list):
    "Attempts per second of hessgeo's simulator on P points x C chains for `sweeps` sweeps (after a warm-up of the same call); compilations while timed appended to `compiled`"
    simulate_tasep(np.full(P, al), be, N, n_samples=2, n_chains=C, burn_in=1, spacing=1, seed=seed, progress=False)  # burn-in and recording kernels
    with numba_compilations() as c:
        t0 = time.perf_counter()
        simulate_tasep(np.full(P, al), be, N, n_samples=10, n_chains=C, burn_in=sweeps - 10, spacing=1, seed=seed, progress=False)
        dt = time.perf_counter() - t0
    compiled += c
    return P * C * sweeps * (N + 1) / dt


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--N', type=int, default=100, help='chain length')
    ap.add_argument('--chains', type=int, default=4096, help='chains in the batch (both simulators)')
    ap.add_argument('--seconds', type=float, default=5.0, help='rough wall time per throughput measurement')
    run = start('tasep_throughput', ap, argv)
    args = run.args
    if args.quick: args.N, args.chains, args.seconds = 20, 256, 0.3
    N, B, seed = args.N, args.chains, args.seed
    al, be = 0.9, 0.8  # a maximal-current point with rates <= 1 (the common case: only boundary bonds need a test)
    print(f"TASEP throughput, N={N}, batch of {B} chains")

    numpy_rate, steps, dt = time_numpy(al, be, N, B, args.seconds, seed)
    print(f"numpy reference : {numpy_rate:.3e} attempts/s ({steps} steps x {B} chains in {dt:.2f} s)")

    # hessgeo numba path: same N and batch (4 points x B/4 chains), on one thread count for the warm-ups and the timed
    # runs (default: every CPU this process may use), whatever the package's thread rule would choose for their sizes
    with use_threads(args.threads or cpu_count()):
        P = 4; C = max(1, B // P)
        sweeps = max(10, int(args.seconds * 2e8 / (P * C * (N + 1))))
        compiled = []
        hg_rate = time_hessgeo(al, be, N, P, C, sweeps, seed + 1, compiled)
        print(f"hessgeo (numba) : {hg_rate:.3e} attempts/s ({sweeps} sweeps x {P * C} chains)")
        print(f"ratio           : {hg_rate / numpy_rate:.1f}x")
        all_bonds = time_hessgeo(0.9, 1.3, N, P, C, sweeps, seed + 1, compiled)
        print(f"  (at alpha=0.9, beta=1.3, where r_max > 1 and every bond needs an acceptance draw: {all_bonds:.3e} attempts/s)")

        # exact sampler: configurations per second, one point per phase
        pts = np.array([[0.3, 0.7], [0.75, 0.35], [0.9, 1.3]])
        sample_tasep_exact(pts[:, 0], pts[:, 1], N, 10, seed=seed + 2)
        S = 2_000 if args.quick else 20_000
        with numba_compilations() as c:
            t0 = time.perf_counter(); sample_tasep_exact(pts[:, 0], pts[:, 1], N, S, seed=seed + 2); dt = time.perf_counter() - t0
        compiled += c
        exact_rate = len(pts) * S / dt
        print(f"exact sampler   : {exact_rate:.3e} configurations/s ({len(pts)} x {S} in {dt:.2f} s)")

        # simulator autocorrelation of the particle number, in sweeps, one point per phase
        spacing = max(1, N // 10)
        res = simulate_tasep(pts[:, 0], pts[:, 1], N, n_samples=200 if args.quick else 2000, n_chains=32, spacing=spacing,
                             seed=seed + 3, progress=False)
        tau = res.autocorr_time() * spacing
        ind = hg_rate / ((N + 1) * tau)
        for (a, b), t, r in zip(pts, tau, ind):
            print(f"  {tasep_phase(a, b)} (alpha={a}, beta={b}): tau = {t:.0f} sweeps -> {r:.3e} independent samples/s")
    sim_ind = float(np.mean(ind))
    print(f"simulator       : {sim_ind:.3e} independent samples/s (mean over the three phases)")
    print(f"numba compilations while timed: {len(compiled)}")
    run.finish(dict(hessgeo_attempts_per_s=hg_rate, numpy_attempts_per_s=numpy_rate, ratio=hg_rate / numpy_rate,
                    hessgeo_attempts_per_s_all_bonds_tested=all_bonds, compilations_while_timed=len(compiled), exact_samples_per_s=exact_rate,
                    simulator_independent_samples_per_s=sim_ind,
                    tau_sweeps={str(tasep_phase(a, b)): float(t) for (a, b), t in zip(pts, tau)}, N=N, chains=B))


if __name__ == '__main__':
    main()
