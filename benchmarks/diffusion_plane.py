"""Benchmark of hessgeo.diffusion: the batched plane sampler vs a one-image-at-a-time loop (the reference code's way).

Both run deterministic DDIM with the same embedded digits model, the same number of steps and the same latents, in
one process; the loop calls `ddim_sample` on one latent at a time, as the reference code's Python double loop over
the grid does. The two are timed in interleaved rounds (batched on all images, then the loop on the next slice), so
that other work starting or stopping on a shared machine biases neither. The images of both are checked to agree.
Then the default 64 x 64 plane is timed end to end with `sample_plane`.

Last line of output: a JSON object with keys `batched_images_per_s`, `loop_images_per_s`, `ratio`,
`default_plane_seconds` (wall clock), with the 1-minute load average before and after and the process's CPU seconds
beside them: on a shared machine the wall-clock figures depend on what else runs, so report the load with them.

    python benchmarks/diffusion_plane.py           # 256 images each way, default 64 x 64 plane (minutes on 2 cores)
    python benchmarks/diffusion_plane.py --quick   # small sizes, seconds
"""
import argparse
import json
import os
import time

import torch

from hessgeo.diffusion import LatentPlane, ddim_sample, load_default_model, sample_plane


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n_images', type=int, default=256, help='images generated each way for the ratio')
    ap.add_argument('--steps', type=int, default=20, help='DDIM steps')
    ap.add_argument('--plane', type=int, default=64, help='side of the default plane that is timed end to end')
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    ap.add_argument('--batch_size', type=int, default=None, help='images per UNet call for the batched runs (default: the sampler\'s own choice)')
    ap.add_argument('--rounds', type=int, default=8, help='interleaved rounds of batched and loop timing')
    ap.add_argument('--quick', action='store_true', help='small sizes for a smoke run')
    a = ap.parse_args()
    if a.quick: a.n_images, a.steps, a.plane, a.rounds = 16, 5, 8, 2
    if a.threads: torch.set_num_threads(a.threads)
    unet, scheduler = load_default_model()
    plane = LatentPlane.from_seeds(0, (1, 16, 16))
    ab = torch.rand(a.n_images, 2, generator=torch.Generator().manual_seed(0))
    z = plane.latents(ab)
    load_before = os.getloadavg()[0]
    ddim_sample(unet, scheduler, z[:2], steps=a.steps, progress=False)  # warm-up
    # Interleaved rounds: each round times the batched sampler on all n images, then the one-image loop on the next
    # n/rounds of them, so that a change in what else runs on the machine hits both alike. The loop covers every
    # image once; the batched figure is the mean over the rounds.
    t_batched = c_batched = t_loop = c_loop = 0.0
    loop = []
    for chunk in torch.arange(a.n_images).chunk(a.rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        batched = ddim_sample(unet, scheduler, z, steps=a.steps, batch_size=a.batch_size, progress=False)
        t_batched, c_batched = t_batched + time.perf_counter() - t0, c_batched + time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        loop += [ddim_sample(unet, scheduler, z[i:i + 1], steps=a.steps, progress=False) for i in chunk.tolist()]
        t_loop, c_loop = t_loop + time.perf_counter() - t0, c_loop + time.process_time() - c0
    n_rounds = len(torch.arange(a.n_images).chunk(a.rounds))
    t_batched, c_batched = t_batched / n_rounds, c_batched / n_rounds
    loop = torch.cat(loop)
    max_diff = float((batched - loop).abs().max())
    assert max_diff < 1e-3, f"batched and one-at-a-time images differ by {max_diff}"
    grid = plane.grid((a.plane, a.plane))
    t0, c0 = time.perf_counter(), time.process_time()
    sample_plane((unet, scheduler), plane, grid, steps=a.steps, batch_size=a.batch_size, device='cpu', progress=True)
    t_plane, c_plane = time.perf_counter() - t0, time.process_time() - c0
    res = dict(batched_images_per_s=a.n_images / t_batched, loop_images_per_s=a.n_images / t_loop,
               ratio=t_loop / t_batched, default_plane_seconds=t_plane, plane=f'{a.plane}x{a.plane}', steps=a.steps,
               n_images=a.n_images, rounds=n_rounds, threads=torch.get_num_threads(), batch_size=a.batch_size, max_abs_diff=max_diff, device='cpu',
               load_avg_1min_before=load_before, load_avg_1min_after=os.getloadavg()[0],
               cpu_seconds=dict(batched=c_batched, loop=c_loop, plane=c_plane))
    print(f"batched: {res['batched_images_per_s']:.1f} images/s; one at a time: {res['loop_images_per_s']:.1f} images/s; "
          f"ratio {res['ratio']:.1f}x (images agree to {max_diff:.1e})")
    print(f"{a.plane} x {a.plane} plane, {a.steps} DDIM steps: {t_plane:.1f} s")
    print(f"CPU seconds of this process (all threads): batched {c_batched:.1f}, loop {c_loop:.1f}, plane {c_plane:.1f}")
    print(f"1-minute load average: {load_before:.2f} before, {res['load_avg_1min_after']:.2f} after ({os.cpu_count()} CPUs): the wall-clock figures depend on it")
    print("GPU figures (fp16 images/s, Stable-Diffusion-sized UNet) need a CUDA device; none was used here.")
    print(json.dumps(res))


if __name__ == '__main__':
    main()
