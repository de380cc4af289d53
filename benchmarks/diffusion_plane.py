"""Benchmark of hessgeo.diffusion: the batched plane sampler vs a one-image-at-a-time loop (the reference code's way),
and, on a GPU, float16 throughput of the embedded digits model and of a Stable-Diffusion-sized UNet.

What is measured where:

- **CPU** (always, unless `--gpu_only`): both samplers run deterministic DDIM with the same embedded digits model,
  the same number of steps and the same latents, in one process, in float32 on the CPU; the loop calls
  `ddim_sample` on one latent at a time, as the reference code's Python double loop over the grid does. The two are
  timed in interleaved rounds (batched on all images, then the loop on the next slice), so that other work starting
  or stopping on a shared machine biases neither. The images of both are checked to agree. Then the default
  64 x 64 plane is timed end to end with `sample_plane` on the CPU.
- **GPU** (`--device cuda`): (1) the embedded digits model, batched deterministic DDIM through `PlaneSampler` with
  `half=True` (float16 UNet, batch size from its memory probe unless `--batch_size`), images/s over
  `--gpu_n_images` latents, its float16 images compared with float32 CPU ones, and a `--plane` plane end to end with
  `sample_plane(..., device='cuda', half=True)`; (2) a `diffusers.UNet2DConditionModel` built from the Stable
  Diffusion v1.x UNet config (written below; about 860M parameters) with random weights, in float16, random text
  embeddings (B, 77, 768), `--sd_steps` DDIM steps on `--sd_batch` 4 x 64 x 64 latents through `ddim_sample`:
  UNet calls/s, UNet evaluations (images x calls)/s and images/s = batch / (steps x time per UNet call). Every GPU
  timing has a warm-up and CUDA synchronisation around it; the GPU name, the peak memory
  (`torch.cuda.max_memory_allocated`) and the parameter count are recorded.
- **CPU smoke of the Stable-Diffusion path** (`--sd_smoke`, CPU only): builds the same SD-sized UNet, checks that it
  has about 860M parameters, and runs ONE float32 UNet forward (`ddim_sample` with one step, the GPU section's own
  code) on one 4 x 64 x 64 latent; it also runs the GPU section's embedded-model code in float32 on a few images.
  Its seconds are information only, not a GPU figure. `--sd_smoke_small` does the same with block_out_channels
  shrunk 4x (same structure), for machines where the full one is too slow or too big (it needs about 4 GB).

Results: `batched_images_per_s`, `loop_images_per_s`, `ratio`, `default_plane_seconds` (wall clock, CPU; null with
`--gpu_only`) with the process's CPU seconds beside them (on a shared machine the wall-clock figures depend on what
else runs); then `gpu_fp16_embedded_images_per_s` and `gpu_fp16_sd_unet_images_per_s` (null on the CPU, with the
reason in `gpu_reason`), the details under `gpu`, and the smoke figures under `cpu_smoke`. The common arguments and
the record are those of benchmarks/common.py; a `--gpu_only` run's record is `diffusion_plane_gpu`.

    python benchmarks/diffusion_plane.py                                 # 256 images each way, default 64 x 64 plane (minutes on 2 cores)
    python benchmarks/diffusion_plane.py --quick                         # small sizes, seconds
    python benchmarks/diffusion_plane.py --quick --threads 1 --sd_smoke  # + the SD-sized UNet: build and one CPU forward
    python benchmarks/diffusion_plane.py --device cuda --plane 64        # a GPU session: CPU figures + the fp16 GPU figures
    python benchmarks/diffusion_plane.py --device cuda --plane 64 --gpu_only   # only the GPU figures (short device budgets)
"""
import resource
import time

from common import cpu_count, parser, start   # first: it sets the OpenMP wait policy before torch loads
import torch

from hessgeo.core import use_threads
from hessgeo.diffusion import LatentPlane, PlaneSampler, ddim_sample, load_default_model, sample_plane

# The Stable Diffusion v1.x UNet (the `unet/config.json` of the v1.4/v1.5 checkpoints), written out so that no
# download is needed; with random weights it has the size and cost of the real one (859,520,964 parameters).
SD_V1_UNET_CONFIG = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=('CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'),
    up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, norm_eps=1e-5, act_fn='silu',
    flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, mid_block_scale_factor=1, center_input_sample=False)
SD_V1_PARAMS = 859_520_964


def sd_unet_config(small:bool=False) -> dict:
    "The SD v1.x UNet config; `small`: block_out_channels / 4, same blocks (GroupNorm groups 16, as 80 is not a multiple of 32)"
    cfg = dict(SD_V1_UNET_CONFIG)
    if small: cfg.update(block_out_channels=tuple(c // 4 for c in cfg['block_out_channels']), norm_num_groups=16)
    return cfg


def build_sd_unet(device, dtype=torch.float32, small:bool=False, seed:int=0):
    "UNet2DConditionModel of `sd_unet_config(small)` with random weights, built directly on `device`, in eval mode"
    from diffusers import UNet2DConditionModel
    torch.manual_seed(seed)
    with torch.device(device): unet = UNet2DConditionModel(**sd_unet_config(small))
    unet = unet.to(device).eval().requires_grad_(False)   # .to: in case a part was made outside the device context
    return unet.half() if dtype == torch.float16 else unet


def sd_scheduler():
    "The DDIM scheduler of Stable Diffusion v1.x"
    from diffusers import DDIMScheduler
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule='scaled_linear',
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def _sync(device):
    "Wait for the device's queued work (CUDA); nothing on the CPU"
    if torch.device(device).type == 'cuda': torch.cuda.synchronize(device)


def _reset_peak(device):
    "Start a new peak-memory count (CUDA)"
    if torch.device(device).type == 'cuda': torch.cuda.reset_peak_memory_stats(device)


def _peak(device):
    "Peak memory in bytes: CUDA allocator peak on a GPU, the process's peak resident set on the CPU"
    if torch.device(device).type == 'cuda': return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_embedded(device, half, n_images:int, steps:int, batch_size=None, repeats:int=1, n_check:int=8):
    "Images/s of batched deterministic DDIM with the embedded digits model through `PlaneSampler` (float16 if `half`)"
    sampler = PlaneSampler(load_default_model(), steps=steps, batch_size=batch_size, device=device, half=half)
    plane = LatentPlane.from_seeds(0, (1, 16, 16))
    z = plane.latents(torch.rand(n_images, 2, generator=torch.Generator().manual_seed(1)))
    sampler.sample(z[:min(n_images, 64)])  # warm-up; on CUDA this also runs the batch-size probe
    times = []
    _sync(device); _reset_peak(device)
    for _ in range(repeats):
        t0 = time.perf_counter()
        imgs = sampler.sample(z)  # images come back on the CPU, so this waits for the device; _sync is belt and braces
        _sync(device); times.append(time.perf_counter() - t0)
    t = min(times)
    k = min(n_check, n_images)
    ref_unet, ref_sched = load_default_model()
    ref = ddim_sample(ref_unet, ref_sched, z[:k], steps=steps, progress=False)
    return dict(images_per_s=n_images / t, seconds=t, seconds_all=times, n_images=n_images, steps=steps, device=str(sampler.device),
                half=sampler.half, batch_size=sampler._bs, peak_memory_bytes=_peak(device),
                max_abs_diff_vs_cpu_fp32=float((imgs[:k] - ref).abs().max()), n_checked=k)


def bench_sd_unet(unet, device, batch:int, steps:int, repeats:int=1, warmup:bool=True):
    "DDIM with a (random-weight) SD-sized UNet through `ddim_sample`: UNet calls/s, evaluations/s and images/s"
    cfg = unet.config
    dt = next(unet.parameters()).dtype
    g = torch.Generator().manual_seed(0)
    z = torch.randn(batch, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=g)
    emb = torch.randn(batch, 77, cfg.cross_attention_dim, generator=g).to(device, dt)  # random text embeddings
    sched = sd_scheduler()
    if warmup: ddim_sample(unet, sched, z, steps=2, encoder_hidden_states=emb, progress=False)
    times = []
    _sync(device); _reset_peak(device)
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = ddim_sample(unet, sched, z, steps=steps, encoder_hidden_states=emb, progress=False)
        _sync(device); times.append(time.perf_counter() - t0)
    t = min(times)
    per_call = t / steps
    return dict(images_per_s=batch / (steps * per_call), unet_calls_per_s=1 / per_call, unet_evaluations_per_s=batch / per_call,
                seconds_per_unet_call=per_call, seconds=t, seconds_all=times, batch=batch, steps=steps, dtype=str(dt).replace('torch.', ''),
                device=str(device), peak_memory_bytes=_peak(device), output_finite=bool(torch.isfinite(out).all()),
                attention_processor=type(next(iter(unet.attn_processors.values()))).__name__)


def n_params(m) -> int:
    "Number of parameters of module `m`"
    return sum(p.numel() for p in m.parameters())


def cpu_benchmark(a):
    "The CPU figures: batched vs one-at-a-time ratio, and the default plane end to end (on `--threads` threads, default every CPU)"
    with use_threads(a.threads or cpu_count()):   # one count for both sides and the warm-ups, whatever their sizes would get
        return _cpu_figures(a)


def _cpu_figures(a):
    "The figures of `cpu_benchmark`, on the threads it set"
    unet, scheduler = load_default_model()
    plane = LatentPlane.from_seeds(0, (1, 16, 16))
    ab = torch.rand(a.n_images, 2, generator=torch.Generator().manual_seed(a.seed))
    z = plane.latents(ab)
    ddim_sample(unet, scheduler, z[:2], steps=a.steps, batch_size=a.batch_size, progress=False)  # warm-up: batched
    ddim_sample(unet, scheduler, z[:1], steps=a.steps, progress=False)  # and one image at a time
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
               cpu_seconds=dict(batched=c_batched, loop=c_loop, plane=c_plane))
    print(f"batched: {res['batched_images_per_s']:.1f} images/s; one at a time: {res['loop_images_per_s']:.1f} images/s; "
          f"ratio {res['ratio']:.1f}x (images agree to {max_diff:.1e})")
    print(f"{a.plane} x {a.plane} plane, {a.steps} DDIM steps: {t_plane:.1f} s")
    print(f"CPU seconds of this process (all threads): batched {c_batched:.1f}, loop {c_loop:.1f}, plane {c_plane:.1f}")
    return res


def gpu_benchmark(a, dev):
    "The float16 GPU figures: embedded digits model, its plane end to end, and the SD-sized UNet"
    props = torch.cuda.get_device_properties(dev)
    gpu = dict(name=torch.cuda.get_device_name(dev), total_memory_bytes=props.total_memory, torch=torch.__version__,
               cuda=torch.version.cuda)
    print(f"GPU: {gpu['name']} ({props.total_memory / 2**30:.0f} GiB), float16")
    emb = bench_embedded(dev, True, a.gpu_n_images, a.steps, a.batch_size, repeats=a.gpu_repeats)
    print(f"embedded digits model, fp16: {emb['images_per_s']:.0f} images/s ({emb['n_images']} images, {a.steps} DDIM steps, "
          f"batch {emb['batch_size']}, peak {emb['peak_memory_bytes'] / 2**30:.2f} GiB; fp16 vs fp32 CPU images differ by {emb['max_abs_diff_vs_cpu_fp32']:.1e})")
    plane = LatentPlane.from_seeds(0, (1, 16, 16))
    t0 = time.perf_counter()
    sample_plane(load_default_model(), plane, plane.grid((a.plane, a.plane)), steps=a.steps, batch_size=a.batch_size,
                 device=dev, half=True, progress=False)
    _sync(dev)
    emb['plane_seconds'], emb['plane'] = time.perf_counter() - t0, f'{a.plane}x{a.plane}'
    print(f"{a.plane} x {a.plane} plane on the GPU, fp16, {a.steps} DDIM steps, end to end (model load and batch probe included): {emb['plane_seconds']:.2f} s")
    torch.cuda.empty_cache()
    t0 = time.perf_counter()
    unet = build_sd_unet(dev, torch.float16)
    _sync(dev)
    build_s = time.perf_counter() - t0
    sd = bench_sd_unet(unet, dev, a.sd_batch, a.sd_steps, repeats=a.sd_repeats)
    sd.update(params=n_params(unet), build_seconds=build_s, config='Stable Diffusion v1.x UNet (random weights)')
    print(f"SD v1.x-sized UNet ({sd['params'] / 1e6:.0f}M parameters, random weights), fp16, batch {a.sd_batch}, {a.sd_steps} DDIM steps: "
          f"{sd['unet_calls_per_s']:.2f} UNet calls/s = {sd['unet_evaluations_per_s']:.1f} UNet evaluations/s, "
          f"{sd['images_per_s']:.2f} images/s (peak {sd['peak_memory_bytes'] / 2**30:.2f} GiB, {sd['attention_processor']})")
    del unet; torch.cuda.empty_cache()
    return dict(gpu_fp16_embedded_images_per_s=emb['images_per_s'], gpu_fp16_sd_unet_images_per_s=sd['images_per_s'],
                gpu_reason=None, gpu=dict(**gpu, embedded=emb, sd_unet=sd))


def cpu_smoke(a):
    "Proves the GPU section's code runs: the embedded-model path in float32, and ONE forward of the SD-sized UNet"
    out = dict(note='CPU float32 smoke of the GPU code path: information only, not a GPU figure')
    out['embedded_fp32'] = e = bench_embedded('cpu', False, 16, 2, a.batch_size, repeats=1)
    assert e['max_abs_diff_vs_cpu_fp32'] < 1e-3, e
    print(f"[CPU smoke] embedded-model GPU-section code in float32 on the CPU: {e['images_per_s']:.1f} images/s (16 images, 2 steps)")
    small = a.sd_smoke_small
    t0 = time.perf_counter()
    unet = build_sd_unet('cpu', torch.float32, small=small)
    build_s = time.perf_counter() - t0
    p = n_params(unet)
    if not small: assert abs(p - SD_V1_PARAMS) < 0.01 * SD_V1_PARAMS, f"SD-sized UNet has {p} parameters, expected about {SD_V1_PARAMS}"
    sd = bench_sd_unet(unet, 'cpu', batch=1, steps=1, warmup=False)   # ddim_sample with one step = one UNet forward
    assert sd['output_finite'], sd
    sd.update(params=p, build_seconds=build_s, variant='small (block_out_channels / 4)' if small else 'full SD v1.x size',
              block_out_channels=list(sd_unet_config(small)['block_out_channels']))
    out['sd_unet_one_forward'] = sd
    print(f"[CPU smoke] {sd['variant']} UNet: {p:,} parameters (built in {build_s:.1f} s); ONE float32 forward on one 4 x 64 x 64 "
          f"latent: {sd['seconds']:.1f} s, peak resident memory {sd['peak_memory_bytes'] / 2**30:.2f} GiB (not a GPU figure)")
    return out


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--n_images', type=int, default=256, help='images generated each way for the ratio')
    ap.add_argument('--steps', type=int, default=20, help='DDIM steps (embedded digits model)')
    ap.add_argument('--plane', type=int, default=64, help='side of the default plane that is timed end to end')
    ap.add_argument('--batch_size', type=int, default=None, help='images per UNet call for the batched runs (default: the sampler\'s own choice)')
    ap.add_argument('--rounds', type=int, default=8, help='interleaved rounds of batched and loop timing')
    ap.add_argument('--gpu_only', action='store_true', help='skip the CPU ratio and plane parts: only the GPU figures (needs --device cuda)')
    ap.add_argument('--gpu_n_images', type=int, default=None, help='images for the GPU fp16 embedded-model figure (default 4096; --quick 256)')
    ap.add_argument('--gpu_repeats', type=int, default=None, help='timed repeats of each GPU figure, best kept (default 3; --quick 1)')
    ap.add_argument('--sd_steps', type=int, default=None, help='DDIM steps for the SD-sized UNet (default 20; --quick 5)')
    ap.add_argument('--sd_batch', type=int, default=8, help='latents per UNet call for the SD-sized UNet')
    ap.add_argument('--sd_smoke', action='store_true', help='CPU: build the SD-sized UNet, check ~860M parameters, run ONE float32 forward')
    ap.add_argument('--sd_smoke_small', action='store_true', help='as --sd_smoke with block_out_channels / 4 (same structure)')
    run = start('diffusion_plane', ap, argv, devices=('cpu', 'cuda'))   # a CUDA device adds the float16 GPU figures
    a, dev = run.args, run.device
    if a.quick: a.n_images, a.steps, a.plane, a.rounds = 16, 5, 8, 2
    a.gpu_n_images = a.gpu_n_images or (256 if a.quick else 4096)
    a.gpu_repeats = a.gpu_repeats or (1 if a.quick else 3)
    a.sd_steps = a.sd_steps or (5 if a.quick else 20)
    a.sd_smoke = a.sd_smoke or a.sd_smoke_small
    if a.gpu_only and dev.type != 'cuda': ap.error(f"--gpu_only needs a CUDA device (got {dev})")
    if a.gpu_only:
        res = dict(batched_images_per_s=None, loop_images_per_s=None, ratio=None, default_plane_seconds=None,
                   cpu_parts='skipped (--gpu_only)', threads=torch.get_num_threads())
    else: res = cpu_benchmark(a)
    if dev.type == 'cuda': res.update(gpu_benchmark(a, dev))
    else:
        res.update(gpu_fp16_embedded_images_per_s=None, gpu_fp16_sd_unet_images_per_s=None,
                   gpu_reason=f"not measured: --device {dev.type} (torch.cuda.is_available() is {torch.cuda.is_available()}); "
                              "run `python benchmarks/diffusion_plane.py --device cuda --plane 64` on a machine with a CUDA GPU", gpu=None)
        print("GPU figures (fp16 images/s, Stable-Diffusion-sized UNet) need --device cuda; none was used here.")
    if a.sd_smoke:
        if dev.type == 'cuda': print("--sd_smoke is the CPU stand-in for the GPU section, which ran in full here: skipped")
        else: res['cpu_smoke'] = cpu_smoke(a)
    run.finish(res, name='diffusion_plane_gpu' if a.gpu_only else None)


if __name__ == '__main__':
    main()
