"""The planning table for runs that outgrow one machine: the paper's Ising data and a Stable-Diffusion plane.

For each run the table gives its work, the throughput per CPU core and per GPU that the benchmark records in
`benchmarks/results/` measured, and what the work then takes: CPU core-hours, and wall time on 1, 8 and 64 GPUs.
Nothing in it is estimated: where no record holds a throughput, its cells stay empty and the notes name the command
that measures it. The wall times assume the work divides evenly over the processes and that they never wait for
each other: exact for sampling (independent batches), a lower bound for data-parallel training (it also exchanges
gradients) and for a plane (its last shards may leave some processes idle).

The runs:

- **Ising sampling**: the paper's 5.4e5 lattices of 128 x 128 on a 128 x 128 (T, H) grid, with the Ising study's
  chains, burn-in and spacing (`hessgeo.studies.ising.IsingPreset`); 32 lattices per point, the multiple of the 8
  chains nearest 5.4e5 / 16384. Work: attempted spin flips, `points x chains x L^2 x (burn_in + samples per chain x
  sweeps_between)`, as `sample_ising` counts them. Throughput: `ising_throughput.py` (checkerboard Metropolis sweeps;
  the Wolff cluster moves the study adds on CPUs are not in it).
- **Ising posterior**: the study's network and epochs over those lattices (80 % trained on, 20 % validated every
  epoch). Work: the FLOPs of its convolutions and matrix products, counted by `torch.utils.flop_counter` on the
  network itself at L = 128 on the 128 x 128 grid (`posterior_epoch.step_flops`). Throughput: `posterior_epoch.py`.
- **SD plane**: a 100 x 100 plane of Stable Diffusion v1.x, DDIM 50 steps with classifier-free guidance (two UNet
  evaluations per step), as in the paper. Work: UNet evaluations; the VAE decode and the CLIP embedding, once per
  image, are left out. Throughput: `diffusion_plane.py`, UNet evaluations per second of the SD-sized UNet (on the
  CPU its `--sd_smoke` float32 forward, on a GPU its float16 DDIM run).

A CPU figure is per core: FLOPs per second of the process's CPU time where the record has it (what a core does,
however many other processes share the machine), else the record's wall-clock figure over the threads it ran on,
which other work on the machine lowers.

    python benchmarks/plan_runs.py           # the table and its notes, in markdown
    python benchmarks/plan_runs.py --json    # the rows as JSON
"""
from __future__ import annotations
import argparse
import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from common import RESULTS

GPUS = (1, 8, 64)
PAPER_LATTICES = 5.4e5


def load_records(folder=RESULTS, # folder of the records
                ) -> list[dict]:
    "Every full-size benchmark record in `folder`, oldest first (records of --quick runs are left out)"
    recs = [json.loads(p.read_text()) for p in sorted(Path(folder).glob('*.json'))]
    return sorted((r for r in recs if not r.get('quick') and 'machine' in r), key=lambda r: r['machine']['finished'])


def latest(records:list, # benchmark records (`load_records`)
           benchmark:str, # a benchmark's name
           key:str, # dotted path into the record's results
          ):
    "(value, record) of the newest record of `benchmark` or a variant (`<benchmark>_...`) with a value at the dotted `key`"
    for r in reversed(records):
        if r['benchmark'] != benchmark and not r['benchmark'].startswith(benchmark + '_'): continue
        v = r['results']
        for k in key.split('.'): v = v.get(k) if isinstance(v, dict) else None
        if v is not None: return v, r
    return None, None


def ising_work() -> dict:
    "The paper-size Ising run with the Ising study's sampling and training settings: its preset and lattice counts"
    from hessgeo.studies.ising import IsingPreset
    per_point = round(PAPER_LATTICES / 128**2 / 8) * 8
    p = IsingPreset(size=128, n_t=128, n_h=128, n_samples=per_point, truth='monte_carlo')
    points = p.n_t * p.n_h
    updates = points * p.n_chains * p.size**2 * (p.burn_in + p.n_samples // p.n_chains * p.sweeps_between)
    return dict(preset=p, points=points, lattices=points * p.n_samples, spin_updates=float(updates))


@functools.lru_cache(maxsize=None)
def posterior_work() -> dict:
    "FLOPs of training the Ising study's network on the paper-size run: every epoch, its training steps and its validation pass"
    from posterior_epoch import step_flops
    ising = ising_work()
    p = ising['preset']
    f = step_flops(p.grid, p.size, p.features)
    n_val = round(0.2 * p.n_samples) * ising['points']   # `SampleBank.split` holds out round(0.2 n) of each point's samples
    n_train, batch = ising['lattices'] - n_val, 512      # the study trains with batch_size 512
    steps = n_train // batch
    epoch = steps * (batch * f['train_per_lattice'] + f['train_per_step']) + n_val * f['forward_per_lattice'] + \
            -(-n_val // 2048) * f['forward_per_step']    # validation in chunks of 2048 bundles
    return dict(epochs=p.epochs, flops=float(p.epochs * epoch), flops_per_epoch=float(epoch), n_train=n_train, n_val=n_val)


def sd_work(side:int=100, # images per side of the plane
            steps:int=50, # DDIM steps per image
            guidance:bool=True, # classifier-free guidance: two UNet evaluations per step
           ) -> dict:
    "UNet evaluations of a side x side Stable-Diffusion plane (two per DDIM step with classifier-free guidance)"
    return dict(images=side * side, ddim_steps=side * side * steps, unet_evaluations=float(side * side * steps * (2 if guidance else 1)))


@dataclass
class Row:
    "One run of the planning table"
    run:str  # what is computed
    work:float  # amount of work, in `unit`
    unit:str  # unit of work (its throughput is `unit`/s)
    cpu_per_core:float|None  # measured throughput per CPU core
    gpu:float|None  # measured throughput per GPU
    cpu_source:str|None  # the record behind the CPU figure, or the command that makes it
    gpu_source:str|None  # the record behind the GPU figure, or the command that makes it

    @property
    def core_hours(self) -> float|None:
        "CPU core-hours of the work (None without a CPU figure)"
        return None if self.cpu_per_core is None else self.work / self.cpu_per_core / 3600
    def wall_seconds(self, n:int, # GPUs
                    ) -> float|None:
        "Wall time of the work split evenly over `n` GPUs (None without a GPU figure)"
        return None if self.gpu is None else self.work / (n * self.gpu)


def source(rec, # the record behind a figure, or None
           missing:str, # the command that measures it
           basis:str='', # how the record measured it
          ) -> str:
    "Where a figure comes from: its record's command, time, device and threads, and how it was measured; or the command to run"
    if rec is None: return f"not measured: run `{missing}`"
    m = rec['machine']
    return (f"`{rec['command']}`, finished {m['finished']} on {m['device_name']} ({m['threads']} thread{'s' if m['threads'] != 1 else ''} of {m['cpu_count']} CPUs)"
            f"{'; ' + basis if basis else ''}")


def figure(records:list, # benchmark records
           benchmark:str, key:str, # which benchmark, and the dotted path of the figure in its results
           command:str, # the command that measures it
           *,
           per_thread:bool=False, # divide the figure by the record's threads (a wall-clock figure of several threads)
           basis=lambda rec: '', # how the record measured it, for the note
           accept=lambda rec: True, # which records may give the figure
          ) -> tuple:
    "(throughput, where it comes from) from the newest record of `benchmark` holding `key` that `accept`s; (None, the command) if none"
    for r in reversed(records):
        v, rec = latest([r], benchmark, key)
        if v is not None and accept(rec): return (v / rec['machine']['threads'] if per_thread else v), source(rec, command, basis(rec))
    return None, source(None, command)


def full_sd(rec:dict, # a diffusion_plane record
           ) -> bool:
    "Whether a diffusion_plane record's CPU smoke ran the full-size SD v1.x UNet (not the small one)"
    smoke = (rec['results'].get('cpu_smoke') or {}).get('sd_unet_one_forward') or {}
    return smoke.get('variant') == 'full SD v1.x size'


def plan(records:list, # benchmark records (`load_records`)
        ) -> list[Row]:
    "The rows of the planning table from the benchmark records"
    ising = ising_work()
    post, sd, p = posterior_work(), sd_work(), ising['preset']
    wall = lambda rec: 'wall-clock throughput over the threads'
    ising_cpu = figure(records, 'ising_throughput', 'hessgeo_updates_per_s', 'python benchmarks/ising_throughput.py --threads 1', per_thread=True,
                       basis=lambda r: f"{wall(r)}, {r['results']['points']} lattices of L = {r['results']['L']}, {r['results']['engine']}")
    ising_gpu = figure(records, 'ising_throughput', 'gpu_updates_per_s', 'python benchmarks/ising_throughput.py --device cuda',
                       basis=lambda r: f"{r['results']['gpu_points']} lattices of L = {r['results']['gpu_L']}")
    post_cpu = figure(records, 'posterior_epoch', 'cpu_flop_per_cpu_s', 'python benchmarks/posterior_epoch.py --threads 1',
                      basis=lambda r: f"FLOPs per second of the process's CPU time, L = {r['results']['L']}, batch {r['results']['cpu']['batch_size']}")
    post_gpu = figure(records, 'posterior_epoch', 'gpu_flop_per_s', 'python benchmarks/posterior_epoch.py --device cuda --gpu_only',
                      basis=lambda r: f"L = {r['results']['L']}, batch {r['results']['gpu']['batch_size']}")
    sd_cpu = figure(records, 'diffusion_plane', 'cpu_smoke.sd_unet_one_forward.unet_evaluations_per_s',
                    'python benchmarks/diffusion_plane.py --threads 1 --sd_smoke', per_thread=True, accept=full_sd,
                    basis=lambda r: f"{wall(r)}, one float32 forward of one latent")
    sd_gpu = figure(records, 'diffusion_plane', 'gpu.sd_unet.unet_evaluations_per_s', 'python benchmarks/diffusion_plane.py --device cuda --gpu_only',
                    basis=lambda r: f"float16, batch {r['results']['gpu']['sd_unet']['batch']}")
    return [
        Row(f"Ising sampling: {ising['lattices']:.3g} lattices of {p.size} x {p.size} on a {p.n_t} x {p.n_h} grid "
            f"({p.n_chains} chains per point, burn-in {p.burn_in}, {p.sweeps_between} sweeps between)", ising['spin_updates'], 'spin updates',
            ising_cpu[0], ising_gpu[0], ising_cpu[1], ising_gpu[1]),
        Row(f"Ising posterior: {post['epochs']} epochs of the study's network over {post['n_train']:.3g} lattices "
            f"(+ {post['n_val']:.3g} validated)", post['flops'], 'FLOPs', post_cpu[0], post_gpu[0], post_cpu[1], post_gpu[1]),
        Row(f"SD plane: 100 x 100 images, {sd['ddim_steps']:.3g} DDIM steps (50 per image, guidance: 2 UNet evaluations each)",
            sd['unet_evaluations'], 'UNet evaluations', sd_cpu[0], sd_gpu[0], sd_cpu[1], sd_gpu[1]),
    ]


def human_time(s:float|None, # seconds
              ) -> str:
    "Seconds as s, min, h or days, 2 significant digits; empty for None"
    if s is None: return ''
    for unit, size in (('days', 86400), ('h', 3600), ('min', 60)):
        if s >= size: return f'{s / size:.2g} {unit}'
    return f'{s:.2g} s'


def num(x:float|None, # a figure
        unit:str='', # its unit
       ) -> str:
    "A figure with 3 significant digits and its unit; empty for None"
    return '' if x is None else f'{x:.3g}' + (f' {unit}' if unit else '')


def markdown(rows:list[Row], # from `plan`
            ) -> str:
    "The table in markdown, then one note per figure on where it comes from"
    head = ['run', 'work', 'per CPU core', 'CPU core-hours', 'per GPU'] + [f'{n} GPU' + ('s' if n > 1 else '') for n in GPUS]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        cells = [r.run, num(r.work, r.unit), num(r.cpu_per_core, f'{r.unit}/s'), '' if r.core_hours is None else f'{r.core_hours:.2g}',
                 num(r.gpu, f'{r.unit}/s')] + [human_time(r.wall_seconds(n)) for n in GPUS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    notes = [f"- {r.run.split(':')[0]}, per CPU core: {r.cpu_source}" for r in rows] + \
            [f"- {r.run.split(':')[0]}, per GPU: {r.gpu_source}" for r in rows]
    return '\n'.join(lines) + '\n\n' + '\n'.join(notes)


def main(argv=None, # command-line arguments (default: sys.argv[1:])
        ):
    "Print the planning table (or its rows as JSON)"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--json', action='store_true', help='print the rows as JSON instead of the markdown table')
    ap.add_argument('--results', default=str(RESULTS), help='folder of the benchmark records (default: benchmarks/results)')
    a = ap.parse_args(argv)
    rows = plan(load_records(a.results))
    if a.json: print(json.dumps([dict(asdict(r), core_hours=r.core_hours, **{f'wall_seconds_{n}_gpus': r.wall_seconds(n) for n in GPUS}) for r in rows], indent=1))
    else: print(markdown(rows))


if __name__ == '__main__':
    main()
