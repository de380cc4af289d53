"""Benchmark of hessgeo.localgeo on CPU.

(a) Descriptors per second for the embedded digits diffusion model (`hessgeo.diffusion.load_default_model`): the
    generator is latent (1x16x16) -> image by a deterministic DDIM chain of `--steps` steps; per point we compute
    J Q for a random P = 16 dimensional input subspace (16 JVPs vmapped, batched over points) and from its singular
    values psi, the thresholded rank and the effective rank. Optional complexity measures are timed separately.
(b) JVP-based psi vs full-Jacobian psi on a small generator (MLP 64 -> 512 -> 512 -> 784, float64, batch of points):
    with P = d the JVP route must give the same psi as log-det of the full Jacobian (`psi_abs_err`, max over points);
    `jvp_vs_full_ratio` = time(full Jacobian by vmap(jacfwd), the faster of jacfwd/jacrev) / time(JVP route at P = d),
    both including the SVD. The JVP route at P = 16 (the cheap probe) is reported beside it.

Results: `descriptors_per_s`, `jvp_vs_full_ratio`, `psi_abs_err`, plus details. The common arguments and the record
are those of benchmarks/common.py; time it on a quiet machine.

    python benchmarks/localgeo.py            # 64 latents, 10 DDIM steps; 256 points for (b)
    python benchmarks/localgeo.py --quick    # seconds
    python benchmarks/localgeo.py --threads 1   # on a machine shared with other jobs: with more torch threads than free
                                                # cores, each parallel region waits for a descheduled thread
"""
import time

from common import cpu_count, parser, start   # first: it sets the OpenMP wait policy before torch loads
import torch
from torch import nn
from torch.func import jacfwd, jacrev, vmap

from hessgeo.core import use_threads
from hessgeo.localgeo import local_geometry, ddim_generator


def best_of(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t0)
    return min(ts), out


def small_generator(d=64, width=512, D=784, seed=0):
    "The small generator of (b): an MLP d -> width -> width -> D with SiLU, float64"
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, D)).double().eval()


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--n_latents', type=int, default=64, help='latents for (a)')
    ap.add_argument('--steps', type=int, default=10, help='DDIM steps of the generator in (a)')
    ap.add_argument('--P', type=int, default=16, help='input subspace dimension in (a)')
    ap.add_argument('--batch_size', type=int, default=16, help='latents per chunk in (a)')
    ap.add_argument('--n_points', type=int, default=256, help='points for (b)')
    ap.add_argument('--repeats', type=int, default=2)
    run = start('localgeo', ap, argv)
    a = run.args
    if a.quick: a.n_latents, a.steps, a.n_points, a.repeats, a.batch_size = 4, 2, 32, 1, 4
    res = {}

    # every side on one thread count (default: every CPU this process may use), the package's functions included,
    # whatever its thread rule would choose for each size: the ratios compare methods, not thread counts
    with use_threads(a.threads or cpu_count()):
        # (a) the embedded diffusion model
        try:
            from hessgeo.diffusion import load_default_model
            unet, scheduler = load_default_model()
        except ImportError as e:
            print(f"(a) skipped: the embedded diffusion model is not available ({e})")
            res.update(descriptors_per_s=None)
        else:
            G = ddim_generator(unet.eval(), scheduler, steps=a.steps)
            z = torch.randn(a.n_latents, 1, 16, 16, generator=torch.Generator().manual_seed(a.seed))
            n_jac = min(a.n_latents, 8)
            local_geometry(G, z[:2], P=a.P, chunk=a.batch_size, progress=False)     # warm-up of both timed paths
            local_geometry(G, z[:1], P=a.P, complexity='jac_var', ball_dim=2, radius=0.1, chunk=a.batch_size, progress=False)
            t, lg = best_of(lambda: local_geometry(G, z, P=a.P, chunk=a.batch_size, progress=False), a.repeats)
            t_jv, _ = best_of(lambda: local_geometry(G, z[:n_jac], P=a.P, complexity='jac_var', ball_dim=2, radius=0.1,
                                                    chunk=a.batch_size, progress=False), 1)
            res.update(descriptors_per_s=a.n_latents / t, diffusion_latents=a.n_latents, ddim_steps=a.steps, P=a.P,
                       psi_mean=float(lg.psi.mean()), erank_mean=float(lg.erank.mean()),
                       with_jac_var_per_s=n_jac / t_jv)
            print(f"(a) diffusion model, {a.steps} DDIM steps, P = {a.P}: {a.n_latents} latents in {t:.2f}s = "
                  f"{a.n_latents / t:.2f} descriptors/s (psi, rank, erank); with the Jacobian variation (2 axes, "
                  f"4 vertices): {n_jac / t_jv:.3f}/s; mean psi {float(lg.psi.mean()):.2f}, mean erank {float(lg.erank.mean()):.2f}")

        # (b) JVP route vs full Jacobian on a small generator
        G = small_generator(seed=a.seed)
        d = 64
        z = torch.randn(a.n_points, d, generator=torch.Generator().manual_seed(a.seed + 1), dtype=torch.float64)
        def full(jac):
            with torch.no_grad():
                J = vmap(jac(lambda x: G(x[None])[0]))(z)
            return torch.log(torch.linalg.svdvals(J)).sum(-1)
        zw = z
        z = z[:4]; full(jacfwd); full(jacrev)   # warm-up (first-call overheads) of every timed path
        local_geometry(G, z, P=d, chunk=4, progress=False); local_geometry(G, z, P=16, chunk=4, progress=False)
        z = zw
        t_fwd, psi_full = best_of(lambda: full(jacfwd), a.repeats)
        t_rev, psi_rev = best_of(lambda: full(jacrev), a.repeats)
        t_jvp, lg = best_of(lambda: local_geometry(G, z, P=d, chunk=a.n_points, progress=False), a.repeats)
        t_16, _ = best_of(lambda: local_geometry(G, z, P=16, chunk=a.n_points, progress=False), a.repeats)
        err = float((lg.psi - psi_full).abs().max())
        t_full = min(t_fwd, t_rev)
        res.update(jvp_vs_full_ratio=t_full / t_jvp, psi_abs_err=err, small_points=a.n_points, small_full_jacfwd_s=t_fwd,
                   small_full_jacrev_s=t_rev, small_jvp_P_d_s=t_jvp, small_jvp_P16_s=t_16, jvp16_vs_full_ratio=t_full / t_16,
                   psi_full_mean=float(psi_full.mean()), jacfwd_jacrev_psi_diff=float((psi_full - psi_rev).abs().max()))
        print(f"(b) MLP 64->512->512->784 (float64), {a.n_points} points: full Jacobian jacfwd {t_fwd:.3f}s, jacrev {t_rev:.3f}s; "
              f"JVP route P = d = 64: {t_jvp:.3f}s (ratio {t_full / t_jvp:.2f}, max |psi diff| {err:.1e}); "
              f"P = 16 probe: {t_16:.3f}s (ratio {t_full / t_16:.2f})")
    run.finish(res)


if __name__ == '__main__':
    main()
