"""Benchmark of hessgeo.geodesics on CPU.

(a) Hessian metric of a network potential on a G x G grid: torch.func (`HessianMetric.matrix`: reverse mode over the
    batched gradient of sum F, the two basis cotangents vmapped) vs a per-dimension autograd loop (the reference
    code's way: grad with create_graph, then one autograd.grad per input dimension). Both run on the same chunks of
    grid points, the same network and dtype, so the ratio measures the differentiation strategy alone. A per-point
    loop (grad per grid point, the reference code's batch-1 habit) is timed on a subset and reported for information.
    Both batched methods evaluate the same graph (one forward, one backward, two double-backward passes over the
    chunk), so a ratio near 1 is what to expect; the large factor is over the per-point loop.
(b) 1,000 geodesics shot in one batch (RK4, 50 steps) on CPU: geodesics per second, for the Hessian metric of the
    project's convex potential (`ICNNPotential`, width 64, depth 3, float64; every RK4 stage needs third derivatives,
    by nested reverse mode), a grid-sampled metric and the analytic hyperbolic metric.

Last line of output: a JSON object with keys `hessian_vmap_vs_loop_ratio` and `geodesics_per_s` (network metric),
plus the details.

    python benchmarks/geodesics.py            # full sizes: 256 x 256 grid, 1000 geodesics
    python benchmarks/geodesics.py --quick    # small sizes, seconds
"""
import argparse
import json
import math
import time

import torch

from hessgeo.core import ParamGrid
from hessgeo.geodesics import GridMetric, HessianMetric, HyperbolicHalfPlane, RK4Shooter
from hessgeo.potential import ICNNPotential


def potential_net(width: int, depth: int, seed: int = 0) -> torch.nn.Module:
    "The reference code's potential architecture (MLP 2 -> width x depth -> 1 with LayerNorm), with smooth Softplus instead of ReLU"
    torch.manual_seed(seed)
    layers, d = [], 2
    for _ in range(depth):
        layers += [torch.nn.Linear(d, width), torch.nn.LayerNorm(width), torch.nn.Softplus()]
        d = width
    net = torch.nn.Sequential(*layers, torch.nn.Linear(d, 1))

    class F(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.net = net
        def forward(self, x):  # (B, 2) -> (B,); the convex quadratic keeps the metric positive definite (checked below)
            return 0.1 * self.net(x)[:, 0] + 2.0 * (x ** 2).sum(-1)
    return F().eval()


def hessian_loop(F, x: torch.Tensor, chunk: int) -> torch.Tensor:
    "Hessian by a Python loop over input dimensions with autograd.grad (reference code's way), batched over points"
    out = []
    for i in range(0, x.shape[0], chunk):
        xc = x[i:i + chunk].detach().requires_grad_(True)
        g = torch.autograd.grad(F(xc).sum(), xc, create_graph=True)[0]
        out.append(torch.stack([torch.autograd.grad(g[:, k].sum(), xc, retain_graph=True)[0] for k in range(2)], 1))
    return torch.cat(out)


def hessian_per_point(F, x: torch.Tensor) -> torch.Tensor:
    "Hessian point by point and dimension by dimension with autograd.grad (no batching at all)"
    out = []
    for p in x:
        p = p[None].detach().requires_grad_(True)
        g = torch.autograd.grad(F(p).sum(), p, create_graph=True)[0]
        out.append(torch.stack([torch.autograd.grad(g[0, k], p, retain_graph=True)[0][0] for k in range(2)]))
    return torch.stack(out)


def best_of(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return min(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--grid', type=int, default=256, help='grid side for (a)')
    ap.add_argument('--n_geodesics', type=int, default=1000, help='geodesics shot in one batch for (b)')
    ap.add_argument('--n_steps', type=int, default=50, help='RK4 steps per geodesic for (b)')
    ap.add_argument('--width', type=int, default=512, help='potential width for (a) (the reference code uses 512)')
    ap.add_argument('--depth', type=int, default=4, help='potential depth for (a)')
    ap.add_argument('--geo_width', type=int, default=64, help='ICNN potential width for (b)')
    ap.add_argument('--geo_depth', type=int, default=3, help='ICNN potential depth for (b)')
    ap.add_argument('--chunk', type=int, default=4096, help='points per batch in (a), both methods')
    ap.add_argument('--dtype', default='float32', choices=('float32', 'float64'), help='dtype of network and points in (a)')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    ap.add_argument('--quick', action='store_true', help='small sizes for a smoke test')
    a = ap.parse_args()
    if a.quick: a.grid, a.n_geodesics, a.n_steps, a.width, a.geo_width, a.repeats = 48, 100, 10, 64, 16, 1
    if a.threads: torch.set_num_threads(a.threads)
    res = dict(device='cpu', torch_threads=torch.get_num_threads(), grid=a.grid, width=a.width, depth=a.depth,
               dtype=a.dtype)
    dt = getattr(torch, a.dtype)

    # (a) Hessian metric on the grid
    F = potential_net(a.width, a.depth).to(dt)
    grid = ParamGrid((-1.0, -1.0), (1.0, 1.0), (a.grid, a.grid))
    x = grid.tensor().to(dt)
    metric = HessianMetric(F, chunk=a.chunk)
    with torch.no_grad():
        H_vmap = metric.matrix(x)
    H_loop = hessian_loop(F, x, a.chunk)
    max_diff = float((H_vmap - H_loop).abs().max() / H_loop.abs().max())
    res.update(hessian_min_eigenvalue=float(torch.linalg.eigvalsh(H_vmap.double()).min()))
    t_vmap = best_of(lambda: metric.matrix(x), a.repeats)
    t_loop = best_of(lambda: hessian_loop(F, x, a.chunk), a.repeats)
    n_pp = min(128 if a.quick else 512, x.shape[0])
    t_pp = best_of(lambda: hessian_per_point(F, x[:n_pp]), 1) * x.shape[0] / n_pp
    res.update(hessian_points=x.shape[0], hessian_vmap_s=t_vmap, hessian_loop_s=t_loop,
               hessian_vmap_vs_loop_ratio=t_loop / t_vmap, hessian_rel_max_diff=max_diff,
               hessian_per_point_loop_s_extrapolated=t_pp, hessian_vmap_vs_per_point_ratio=t_pp / t_vmap)
    print(f"(a) Hessian of a {a.depth}x{a.width} MLP potential on {a.grid}x{a.grid} points: vmap {t_vmap:.2f}s, "
          f"per-dimension autograd loop {t_loop:.2f}s, ratio {t_loop / t_vmap:.2f}; per-point loop ~{t_pp:.0f}s "
          f"(extrapolated from {n_pp} points), ratio {t_pp / t_vmap:.0f}; max relative difference {max_diff:.1e}")

    # (b) geodesics per second, one batch
    B = a.n_geodesics
    gen = torch.Generator().manual_seed(1)
    ang = torch.rand(B, generator=gen, dtype=torch.float64) * 2 * math.pi
    dirs = torch.stack([torch.cos(ang), torch.sin(ang)], -1)
    p0 = (torch.rand(B, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.6
    shooter = RK4Shooter(a.n_steps)
    icnn = ICNNPotential([-1.0, -1.0], [1.0, 1.0], width=a.geo_width, depth=a.geo_depth, seed=1).eval()
    metric = HessianMetric(icnn, chunk=a.chunk)
    with torch.no_grad():
        gp = metric.matrix(p0)
    speed = torch.einsum('bi,bij,bj->b', dirs, gp, dirs).sqrt()
    v0 = dirs * (0.3 / speed)[:, None]    # metric length 0.3
    t0 = time.perf_counter(); cur = shooter.shoot(metric, p0, v0); t_net = time.perf_counter() - t0
    res.update(geodesics=B, rk4_steps=a.n_steps, geodesics_per_s=B / t_net, geo_width=a.geo_width, geo_depth=a.geo_depth,
               network_speed_drift_max=float(cur.speed_drift.max()))
    print(f"(b) {B} geodesics x {a.n_steps} RK4 steps, Hessian metric of a {a.geo_depth}x{a.geo_width} ICNN potential (float64): "
          f"{t_net:.2f}s = {B / t_net:.1f} geodesics/s (max speed drift {float(cur.speed_drift.max()):.1e})")

    hyp = HyperbolicHalfPlane()
    ph = torch.stack([p0[:, 0], 1 + p0[:, 1]], -1)
    vh = dirs * ph[:, 1:] * 1.0
    t_h = best_of(lambda: shooter.shoot(hyp, ph, vh), a.repeats)
    hgrid = ParamGrid((-3.0, 0.2), (3.0, 3.5), (128, 128))
    ghyp = GridMetric(hgrid, hyp.matrix(hgrid.tensor()))
    t_g = best_of(lambda: shooter.shoot(ghyp, ph, vh), a.repeats)
    res.update(geodesics_per_s_hyperbolic_analytic=B / t_h, geodesics_per_s_grid_metric=B / t_g)
    print(f"    analytic hyperbolic metric (float64): {B / t_h:.0f} geodesics/s; 128x128 grid metric: {B / t_g:.0f} geodesics/s")
    print(json.dumps(res))


if __name__ == '__main__':
    main()
