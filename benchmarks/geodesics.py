"""Benchmark of hessgeo.geodesics on CPU.

(a) The Hessian metric of a network potential on a G x G grid (default 256 x 256 = 65,536 points), float32.

    The network: `MLPPotential(width=512, depth=4, layernorm=True, dtype=torch.float32)`, the paper's architecture and
    the authors' potential (MLP 2 -> 512 x 4 -> 1, each hidden layer Linear -> LayerNorm -> ReLU, then Linear(512, 1);
    `MLPPotential` adds only the affine map of its box, here [0, 1]^2, onto [-1, 1]^2 and the factor exp(log_scale) = 1).
    Both sides differentiate this same module. (The benchmark used to carry a separate copy of the authors' class; it was the same layers, so
    it is gone.)

    Reference ("the reference code's way"): a re-implementation of `metric_tensor` in
    scripts/compute-equidistant-geodesics.py of the authors' public code
    (github.com/alobashev/hessian-geometry-of-diffusion-models): the points in ONE batch, `autograd.grad` of the summed
    potential with `create_graph=True`, then a Python loop over the two input dimensions, one more `autograd.grad` of
    each gradient column per dimension, written into a preallocated (B, 2, 2) tensor. It is batched over points
    (not a per-point loop) and has no chunking, so the whole grid goes through one call. (The authors take Hess of
    -net; the sign changes nothing in the cost, and both sides here compute Hess of the module's output.)

    Ours: `HessianMetric(potential).matrix`, in chunks of `--chunk` points (the class default), under
    `torch.no_grad()`. For an `MLPPotential` it takes the potential's own structured Hessian (`MLPPotential.hessian`,
    `hessgeo.potential`): forward tangents of every layer (value and two tangents, the tangents as one stacked GEMM),
    one backward pass for the adjoint, and LayerNorm's closed-form second derivative contracted with both. That is about 4 GEMMs per
    hidden layer instead of the ~6 that every generic AD strategy needs for a 2-D input, and far fewer elementwise
    passes. The speed of the headline `hessian_vmap_vs_loop_ratio` (reference / ours) comes from this structured
    Hessian, not from torch.func.

    For information (not the headline):
    - `hessian_generic_ratio`: the generic torch.func path (`HessianMetric(potential, own_derivatives=False)`: `vjp` of the
      batched `grad`, the two basis cotangents vmapped, same chunks). It beats the reference only because chunking
      keeps the graph in cache.
    - the same reference loop run on our chunks (then it is as fast as the generic path: same GEMMs on the same blocks);
    - the reference loop point by point (extrapolated from a subset; a strawman the authors do not use for the grid);
    - with --compile, the generic path under `torch.compile` (fixed chunk shape, compile time reported separately).
    The maximum relative difference between our Hessians and the reference's is printed (float32 rounding).

(b) 1,000 geodesics shot in one batch (RK4, 50 steps) on CPU: geodesics per second, for the Hessian metric of the
    project's convex potential (`ICNNPotential`, width 64, depth 3, float64; every RK4 stage needs third derivatives,
    `ICNNPotential.third_derivatives`, by reverse mode over its structured Hessian; the same shot with the torch.func
    third derivatives is printed for information), plus a grid-sampled metric and the analytic hyperbolic metric for
    comparison.

Threads on a shared machine: with the default (spinning) OpenMP wait policy and 2 threads on 2 cores that other jobs
also use, every parallel region waits for a descheduled spinning thread, and small-op workloads such as (b) then run
many times slower than on one thread. Use `--threads 1`, or `OMP_WAIT_POLICY=PASSIVE`, there.

Results: `hessian_vmap_vs_loop_ratio` and `geodesics_per_s` (network metric), plus the details. The common arguments
and the record are those of benchmarks/common.py. Run on an otherwise idle machine.

    python benchmarks/geodesics.py --threads 1   # full sizes: 256 x 256 grid, 1000 geodesics, one torch thread
    python benchmarks/geodesics.py --compile     # also time the generic Hessian under torch.compile
    python benchmarks/geodesics.py --quick    # small sizes, seconds
    OMP_WAIT_POLICY=PASSIVE python benchmarks/geodesics.py --compile   # 2 threads on a shared machine
"""
import math
import os
import resource
import time

from common import parser, start   # first: it sets the OpenMP wait policy before torch loads
import torch

from hessgeo.core import ParamGrid
from hessgeo.geodesics import RK4Shooter
from hessgeo.metrics import GridMetric, HessianMetric, HyperbolicHalfPlane
from hessgeo.potential import ICNNPotential, MLPPotential


def reference_metric(points: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
    "Hess(net) at `points` (B, 2) the reference code's way (it takes -net): one batch, grad with a graph, then a loop over the 2 dimensions"
    x = points.detach().requires_grad_(True)
    first = torch.autograd.grad(net(x).sum(), x, create_graph=True)[0]
    H = torch.zeros(x.shape[0], 2, 2, dtype=x.dtype)
    for i in range(2):
        H[:, i] = torch.autograd.grad(first[:, i], x, torch.ones_like(first[:, i]), retain_graph=True)[0]
    return H.detach()


def reference_metric_chunked(points, net, chunk):
    "The same loop run on chunks of `chunk` points (information only: the reference code does not chunk)"
    return torch.cat([reference_metric(points[i:i + chunk], net) for i in range(0, points.shape[0], chunk)])


def reference_metric_per_point(points, net):
    "The same loop run point by point (information only)"
    return torch.cat([reference_metric(p[None], net) for p in points])


def best_of(fn, repeats: int) -> float:
    "The shortest wall time of `repeats` calls of `fn`"
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return min(ts)


def max_rss_gb() -> float:
    "Peak resident memory of this process so far, GB"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6   # Linux: KiB


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--grid', type=int, default=256, help='grid side for (a)')
    ap.add_argument('--n_geodesics', type=int, default=1000, help='geodesics shot in one batch for (b)')
    ap.add_argument('--n_steps', type=int, default=50, help='RK4 steps per geodesic for (b)')
    ap.add_argument('--width', type=int, default=512, help='potential width for (a) (the reference code uses 512)')
    ap.add_argument('--depth', type=int, default=4, help='hidden layers of the potential for (a) (the reference code uses 4)')
    ap.add_argument('--geo_width', type=int, default=64, help='ICNN potential width for (b)')
    ap.add_argument('--geo_depth', type=int, default=3, help='ICNN potential depth for (b)')
    ap.add_argument('--chunk', type=int, default=None, help="points per call of our Hessians (default: HessianMetric's)")
    ap.add_argument('--repeats', type=int, default=2, help='timing repeats (best of)')
    ap.add_argument('--compile', action='store_true', help='also time the generic Hessian under torch.compile')
    run = start('geodesics', ap, argv)
    a = run.args
    if a.quick: a.grid, a.n_geodesics, a.n_steps, a.width, a.geo_width, a.repeats = 48, 100, 10, 64, 16, 1
    res = dict(omp_wait_policy=os.environ.get('OMP_WAIT_POLICY', 'default'), grid=a.grid, width=a.width, depth=a.depth,
               dtype='float32')
    print(f"OMP_WAIT_POLICY={res['omp_wait_policy']}")

    # (a) Hessian metric on the grid, float32 as in the reference code
    net = MLPPotential((0.0, 0.0), (1.0, 1.0), width=a.width, depth=a.depth, layernorm=True, dtype=torch.float32).eval()
    grid = ParamGrid((0.0, 0.0), (1.0, 1.0), (a.grid, a.grid))
    x = grid.tensor().float()
    kw = {} if a.chunk is None else dict(chunk=a.chunk)
    metric, generic = HessianMetric(net, **kw), HessianMetric(net, own_derivatives=False, **kw)
    assert metric.uses_own_derivatives and net.has_structured_hessian and not generic.uses_own_derivatives
    res['chunk'] = metric.chunk
    def ours():
        with torch.no_grad(): return metric.matrix(x)
    def ours_generic():
        with torch.no_grad(): return generic.matrix(x)
    H_ours = ours()
    rss_ours = max_rss_gb()
    H_gen = ours_generic()
    H_ref = reference_metric(x, net)
    rss_ref = max_rss_gb()
    rel = lambda H: float((H - H_ref).abs().max() / H_ref.abs().max())
    diff, diff_gen, diff_ours_gen = rel(H_ours), rel(H_gen), float((H_ours - H_gen).abs().max() / H_gen.abs().max())
    timed = {'ours': ours, 'reference': lambda: reference_metric(x, net), 'generic': ours_generic,
             'reference_on_our_chunks': lambda: reference_metric_chunked(x, net, metric.chunk)}
    if a.compile:
        c = metric.chunk
        pad = (-x.shape[0]) % c
        xp = torch.cat([x, x[-1:].expand(pad, 2)]) if pad else x   # every call the same shape: no recompilation
        params = {k: v.detach() for k, v in net.named_parameters()}
        Fc = lambda X: -torch.func.functional_call(net, params, (X,))[:, 0]
        hc = torch.compile(HessianMetric(Fc, chunk=c).matrix, dynamic=False)   # one chunk per call: torch.func's Hessian
        def compiled():
            with torch.no_grad(): return torch.cat([hc(xp[i:i + c]) for i in range(0, xp.shape[0], c)])[:x.shape[0]]
        t0 = time.perf_counter()
        with torch.no_grad(): hc(xp[:c])
        t_comp = time.perf_counter() - t0
        H_c = compiled()
        timed['compiled'] = compiled
    best = {k: math.inf for k in timed}
    for _ in range(a.repeats):   # interleaved rounds, best of each: a change of machine load hits all alike
        for k, fn in timed.items(): best[k] = min(best[k], best_of(fn, 1))
    t_ours, t_ref, t_ref_chunked, t_gen = best['ours'], best['reference'], best['reference_on_our_chunks'], best['generic']
    n_pp = min(64 if a.quick else 256, x.shape[0])
    t_pp = best_of(lambda: reference_metric_per_point(x[:n_pp], net), 1) * x.shape[0] / n_pp
    res.update(hessian_points=x.shape[0], hessian_reference_s=t_ref, hessian_ours_s=t_ours,
               hessian_vmap_vs_loop_ratio=t_ref / t_ours, hessian_rel_max_diff=diff,
               hessian_generic_s=t_gen, hessian_generic_ratio=t_ref / t_gen, hessian_generic_rel_max_diff=diff_gen,
               hessian_structured_vs_generic_rel_max_diff=diff_ours_gen, hessian_structured_vs_generic_speedup=t_gen / t_ours,
               hessian_max_rss_gb_after_ours=rss_ours, hessian_max_rss_gb_after_reference=rss_ref,
               hessian_reference_on_our_chunks_s=t_ref_chunked, hessian_ratio_vs_reference_on_our_chunks=t_ref_chunked / t_ours,
               hessian_per_point_loop_s_extrapolated=t_pp, hessian_ratio_vs_per_point_loop=t_pp / t_ours)
    print(f"(a) Hess of MLPPotential ({a.depth} x {a.width} LayerNorm-ReLU, the paper's potential, float32) on {a.grid} x {a.grid} = "
          f"{x.shape[0]} points, best of {a.repeats} interleaved rounds:\n"
          f"    reference code's way (one batch, autograd loop over the 2 dims): {t_ref:.2f} s "
          f"(process peak RSS {rss_ref:.2f} GB)\n"
          f"    ours (HessianMetric: structured Hessian, chunks of {metric.chunk}): {t_ours:.2f} s (peak RSS {rss_ours:.2f} GB "
          f"before the others ran)\n"
          f"    ratio {t_ref / t_ours:.2f}; max relative difference to the reference {diff:.1e}\n"
          f"    for information: generic torch.func path (same chunks) {t_gen:.2f} s (ratio {t_ref / t_gen:.2f}; structured is "
          f"{t_gen / t_ours:.2f}x faster, max relative difference {diff_ours_gen:.1e}); reference loop on our chunks "
          f"{t_ref_chunked:.2f} s (ratio {t_ref_chunked / t_ours:.2f}); "
          f"reference loop point by point ~{t_pp:.0f} s (extrapolated from {n_pp} points, ratio {t_pp / t_ours:.0f})")
    if a.compile:
        t_c = best['compiled']
        res.update(hessian_compiled_s=t_c, hessian_compile_time_s=t_comp, hessian_ratio_compiled=t_ref / t_c,
                   hessian_ratio_compiled_incl_compile=t_ref / (t_c + t_comp),
                   hessian_compiled_rel_max_diff=float((H_c - H_ref).abs().max() / H_ref.abs().max()),
                   hessian_compiled_points_off_1e4=int(((H_c - H_ref).abs().flatten(1).amax(1) > 1e-4 * H_ref.abs().max()).sum()))
        print(f"    torch.compile of the generic Hessian: {t_c:.2f} s per grid after {t_comp:.0f} s of compilation: ratio {t_ref / t_c:.2f} "
              f"(amortised), {t_ref / (t_c + t_comp):.2f} counting the compilation once; max relative difference "
              f"{res['hessian_compiled_rel_max_diff']:.1e}, at {res['hessian_compiled_points_off_1e4']} of {x.shape[0]} points above 1e-4 "
              f"(float32 rounding flips a ReLU whose input is within ~1e-7 of 0: the Hessian jumps there)")

    # (b) geodesics per second, one batch
    B = a.n_geodesics
    gen = torch.Generator().manual_seed(a.seed + 1)
    ang = torch.rand(B, generator=gen, dtype=torch.float64) * 2 * math.pi
    dirs = torch.stack([torch.cos(ang), torch.sin(ang)], -1)
    p0 = (torch.rand(B, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.6
    shooter = RK4Shooter(a.n_steps)
    icnn = ICNNPotential([-1.0, -1.0], [1.0, 1.0], width=a.geo_width, depth=a.geo_depth, seed=a.seed + 1).eval()
    gmetric = HessianMetric(icnn)
    with torch.no_grad():
        gp = gmetric.matrix(p0)
        speed = torch.einsum('bi,bij,bj->b', dirs, gp, dirs).sqrt()
        v0 = dirs * (0.3 / speed)[:, None]    # metric length 0.3
        shooter.shoot(gmetric, p0[:2], v0[:2]); shooter.shoot(HessianMetric(icnn, own_derivatives=False), p0[:2], v0[:2])  # warm-up
        t0 = time.perf_counter(); cur = shooter.shoot(gmetric, p0, v0); t_net = time.perf_counter() - t0
        t0 = time.perf_counter(); cur_g = shooter.shoot(HessianMetric(icnn, own_derivatives=False), p0, v0); t_gen_geo = time.perf_counter() - t0
    geo_diff = float((cur.points - cur_g.points).abs().max())
    res.update(geodesics=B, rk4_steps=a.n_steps, geodesics_per_s=B / t_net, geodesics_s=t_net, geo_width=a.geo_width,
               geo_depth=a.geo_depth, network_speed_drift_max=float(cur.speed_drift.max()),
               geodesics_per_s_generic=B / t_gen_geo, geodesics_structured_vs_generic_max_abs_diff=geo_diff)
    print(f"(b) {B} geodesics x {a.n_steps} RK4 steps in one batch, Hessian metric of a {a.geo_depth} x {a.geo_width} ICNN "
          f"potential (float64): {t_net:.2f} s = {B / t_net:.1f} geodesics/s (max speed drift {float(cur.speed_drift.max()):.1e}); "
          f"for information, third derivatives by torch.func instead of over the structured Hessian: {B / t_gen_geo:.1f} geodesics/s "
          f"(curves agree to {geo_diff:.1e})")

    hyp = HyperbolicHalfPlane()
    ph = torch.stack([p0[:, 0], 1 + p0[:, 1]], -1)
    vh = dirs * ph[:, 1:] * 1.0
    hgrid = ParamGrid((-3.0, 0.2), (3.0, 3.5), (128, 128))
    ghyp = GridMetric(hgrid, hyp.matrix(hgrid.tensor()))
    shooter.shoot(hyp, ph[:2], vh[:2]); shooter.shoot(ghyp, ph[:2], vh[:2])   # warm-up
    t_h = best_of(lambda: shooter.shoot(hyp, ph, vh), a.repeats)
    t_g = best_of(lambda: shooter.shoot(ghyp, ph, vh), a.repeats)
    res.update(geodesics_per_s_hyperbolic_analytic=B / t_h, geodesics_per_s_grid_metric=B / t_g)
    print(f"    analytic hyperbolic metric (float64): {B / t_h:.0f} geodesics/s; 128 x 128 grid metric: {B / t_g:.0f} geodesics/s")
    run.finish(res)


if __name__ == '__main__':
    main()
