"""Benchmark of hessgeo.diffusion: the batched plane sampler vs a one-image-at-a-time loop (the reference code's way).

Both run deterministic DDIM with the same embedded digits model, the same number of steps and the same latents, in
one process; the loop calls `ddim_sample` on one latent at a time, as the reference code's Python double loop over
the grid does. The images of both are checked to agree. Then the default 64 x 64 plane is timed end to end with
`sample_plane`.

Last line of output: a JSON object with keys `batched_images_per_s`, `loop_images_per_s`, `ratio`,
`default_plane_seconds`.

    python benchmarks/diffusion_plane.py           # 256 images each way, default 64 x 64 plane (minutes on 2 cores)
    python benchmarks/diffusion_plane.py --quick   # small sizes, seconds
"""
import argparse
import json
import time

import torch

from hessgeo.diffusion import LatentPlane, ddim_sample, load_default_model, sample_plane


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n_images', type=int, default=256, help='images generated each way for the ratio')
    ap.add_argument('--steps', type=int, default=20, help='DDIM steps')
    ap.add_argument('--plane', type=int, default=64, help='side of the default plane that is timed end to end')
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    ap.add_argument('--quick', action='store_true', help='small sizes for a smoke run')
    a = ap.parse_args()
    if a.quick: a.n_images, a.steps, a.plane = 16, 5, 8
    if a.threads: torch.set_num_threads(a.threads)
    unet, scheduler = load_default_model()
    plane = LatentPlane.from_seeds(0, (1, 16, 16))
    ab = torch.rand(a.n_images, 2, generator=torch.Generator().manual_seed(0))
    z = plane.latents(ab)
    ddim_sample(unet, scheduler, z[:2], steps=a.steps, progress=False)  # warm-up
    t0 = time.perf_counter()
    batched = ddim_sample(unet, scheduler, z, steps=a.steps, progress=False)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = torch.cat([ddim_sample(unet, scheduler, z[i:i + 1], steps=a.steps, progress=False) for i in range(len(z))])
    t_loop = time.perf_counter() - t0
    max_diff = float((batched - loop).abs().max())
    assert max_diff < 1e-3, f"batched and one-at-a-time images differ by {max_diff}"
    grid = plane.grid((a.plane, a.plane))
    t0 = time.perf_counter()
    sample_plane((unet, scheduler), plane, grid, steps=a.steps, progress=True)
    t_plane = time.perf_counter() - t0
    res = dict(batched_images_per_s=a.n_images / t_batched, loop_images_per_s=a.n_images / t_loop,
               ratio=t_loop / t_batched, default_plane_seconds=t_plane, plane=f'{a.plane}x{a.plane}', steps=a.steps,
               n_images=a.n_images, threads=torch.get_num_threads(), max_abs_diff=max_diff, device='cpu')
    print(f"batched: {res['batched_images_per_s']:.1f} images/s; one at a time: {res['loop_images_per_s']:.1f} images/s; "
          f"ratio {res['ratio']:.1f}x (images agree to {max_diff:.1e})")
    print(f"{a.plane} x {a.plane} plane, {a.steps} DDIM steps: {t_plane:.1f} s")
    print("GPU figures (fp16 images/s, Stable-Diffusion-sized UNet) need a CUDA device; none was used here.")
    print(json.dumps(res))


if __name__ == '__main__':
    main()
