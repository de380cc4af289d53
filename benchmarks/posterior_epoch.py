"""Training throughput of the Ising study's posterior network (`train_posterior`) on L x L lattices, in FLOP/s.

The network is the one `hessgeo.studies.ising` trains in its `benchmark64` and `paper` presets (`WIDE_NETWORK`):
`LatticeEncoder(features, 16, 1)` with the smooth head. A bank
of random +-1 lattices (the cost does not depend on the spins) on a small grid is trained for two epochs of `--steps`
steps of `--batch_size` single-lattice bundles; the second epoch's seconds are the figure (the first warms up). They
include one validation pass of `--batch_size` bundles, which the FLOP count includes too.

The FLOPs are those of the convolutions and matrix products of a training step, forward and backward, counted by
`torch.utils.flop_counter` on the same network. A step costs `train_per_lattice` for each lattice of the batch plus
`train_per_step` for the smooth head's network over the grid's cells, once per step; counting both lets a figure
measured on a small grid convert to the paper's 128 x 128 grid (`benchmarks/plan_runs.py` does).

    python benchmarks/posterior_epoch.py --threads 1                 # CPU: L = 128, 8 x 8 grid, batch 32, 6 steps per epoch
    python benchmarks/posterior_epoch.py --device cuda --gpu_only    # GPU only, batch 512 (the study's): record posterior_epoch_gpu
    python benchmarks/posterior_epoch.py --quick                     # L = 16, smoke run

Results: `cpu_flop_per_s` and `cpu_lattices_per_s` (and `gpu_...` on a CUDA device), `cpu_flop_per_cpu_s` (FLOPs per
second of the process's CPU time, all threads: what a core does, however many other processes share the machine),
`flops` (the counts above for this grid), `L`, `grid`, `features`, and per device the batch size, steps and seconds. The common arguments and the record
are those of benchmarks/common.py.
"""
from __future__ import annotations
import tempfile
import time
from pathlib import Path

import numpy as np
from common import parser, start   # first: it sets the OpenMP wait policy before torch loads
import torch

from hessgeo.core import ParamGrid
from hessgeo.data import SampleBank
from hessgeo.posterior import LatticeEncoder, PosteriorNet, seeded_net, train_posterior


def study_net(grid:ParamGrid, # the (T, H) grid
              features:int=16, # the encoder's features
             ) -> PosteriorNet:
    "The Ising study's posterior network on `grid`"
    return PosteriorNet(LatticeEncoder(features, 16, 1), grid, head='smooth')


def step_flops(grid:ParamGrid, # the (T, H) grid: the smooth head's cells
               L:int, # lattice side
               features:int=16, # the encoder's features
              ) -> dict:
    "FLOPs of the study's network on L x L lattices: a training step (forward and backward) and a forward pass, each per lattice and per step"
    from torch.utils.flop_counter import FlopCounterMode
    net = study_net(grid, features)
    def count(B, train):
        x = torch.randint(0, 2, (B, 1, L, L), dtype=torch.int8) * 2 - 1
        with FlopCounterMode(display=False) as fc, torch.set_grad_enabled(train):
            out = net(x)
            if train: torch.nn.functional.nll_loss(out, torch.zeros(B, dtype=torch.long)).backward()
        return fc.get_total_flops()
    out = {}
    for kind, train in (('train', True), ('forward', False)):
        f2, f4 = count(2, train), count(4, train)
        out[f'{kind}_per_lattice'], out[f'{kind}_per_step'] = (f4 - f2) / 2, f2 - (f4 - f2)
    return out


def random_bank(folder:Path, # the bank's folder (created)
                grid:ParamGrid, # its grid
                L:int, n:int, seed:int, # lattice side, lattices per point, seed
               ) -> SampleBank:
    "A bank of n random +-1 lattices of L x L at every point of `grid`"
    def spins(points, n, s):
        return np.random.default_rng(s).integers(0, 2, (len(points), n, L, L), dtype=np.int8) * 2 - 1
    spins.settings = dict(sampler='random spins', L=L)
    return SampleBank.generate(folder, grid, spins, n, seed=seed, progress=False)


def time_epoch(bank:SampleBank, # lattices to train on
               device, # torch device
               features:int, batch_size:int, steps:int, seed:int, # the network's features, bundles per step, steps per epoch, seed
              ) -> tuple[float, float]:
    "Wall-clock and process CPU seconds of the second of two epochs of `train_posterior` (`steps` steps of `batch_size` bundles, one validation pass)"
    net = seeded_net(lambda: study_net(bank.grid, features), seed)
    cpu = []   # the process's CPU time at the end of each epoch (all its threads)
    r = train_posterior(net, bank, epochs=2, steps_per_epoch=steps, batch_size=batch_size, n_val=batch_size, patience=2,
                        lr=1e-3, seed=seed, device=device, progress=False, callback=lambda e, h: cpu.append(time.process_time()))
    return r.history[1]['seconds'], cpu[1] - cpu[0]


def measure(bank:SampleBank, # lattices to train on
            device, # torch device
            flops:dict, # `step_flops` of the bank's grid
            features:int, batch_size:int, steps:int, seed:int, # as for `time_epoch`
           ) -> dict:
    "FLOP/s and lattices/s of one epoch on `device`"
    s, c = time_epoch(bank, device, features, batch_size, steps, seed)
    work = steps * (batch_size * flops['train_per_lattice'] + flops['train_per_step']) + \
           batch_size * flops['forward_per_lattice'] + flops['forward_per_step']
    print(f"{device}: {steps} steps of {batch_size} lattices + one validation pass in {s:.2f} s ({c:.2f} CPU seconds): "
          f"{work / s:.3e} FLOP/s, {work / c:.3e} FLOP per CPU second, {steps * batch_size / s:.1f} lattices/s")
    return dict(flop_per_s=work / s, flop_per_cpu_s=work / c, lattices_per_s=steps * batch_size / s, seconds=s, cpu_seconds=c,
                batch_size=batch_size, steps=steps)


def main(argv=None, # command-line arguments (default: sys.argv[1:])
        ):
    "Measure, print and write the record"
    ap = parser(__doc__)
    ap.add_argument('--L', type=int, default=128, help='lattice side')
    ap.add_argument('--grid', type=int, default=8, help='side of the (T, H) grid of the bank')
    ap.add_argument('--n_samples', type=int, default=16, help='lattices per grid point')
    ap.add_argument('--features', type=int, default=16, help="the encoder's features (the Ising study's default)")
    ap.add_argument('--batch_size', type=int, default=32, help='bundles per step on the CPU')
    ap.add_argument('--gpu_batch_size', type=int, default=512, help='bundles per step on the GPU (the Ising study trains with 512)')
    ap.add_argument('--steps', type=int, default=6, help='steps per epoch')
    ap.add_argument('--gpu_only', action='store_true', help='skip the CPU figure (needs --device cuda)')
    run = start('posterior_epoch', ap, argv, devices=('cpu', 'cuda'))
    a, dev = run.args, run.device
    if a.quick: a.L, a.grid, a.n_samples, a.batch_size, a.gpu_batch_size, a.steps = 16, 4, 8, 16, 64, 2
    if a.gpu_only and dev.type != 'cuda': ap.error(f"--gpu_only needs a CUDA device (got {dev})")
    grid = ParamGrid((1.5, -0.5), (3.5, 0.5), (a.grid, a.grid), names=('T', 'H'))
    flops = step_flops(grid, a.L, a.features)
    print(f"L = {a.L}, {a.grid} x {a.grid} grid: a training step costs {flops['train_per_lattice']:.3e} FLOPs per lattice "
          f"+ {flops['train_per_step']:.3e} per step")
    res = dict(L=a.L, grid=[a.grid, a.grid], n_samples=a.n_samples, features=a.features, flops=flops)
    with tempfile.TemporaryDirectory(prefix='hessgeo_bench_') as d:
        bank = random_bank(Path(d) / 'bank', grid, a.L, a.n_samples, a.seed)
        if not a.gpu_only:
            cpu = measure(bank, torch.device('cpu'), flops, a.features, a.batch_size, a.steps, a.seed)
            res.update(cpu_flop_per_s=cpu['flop_per_s'], cpu_flop_per_cpu_s=cpu['flop_per_cpu_s'], cpu_lattices_per_s=cpu['lattices_per_s'], cpu=cpu)
        if dev.type == 'cuda':
            gpu = measure(bank, dev, flops, a.features, a.gpu_batch_size, a.steps, a.seed)
            gpu.update(name=torch.cuda.get_device_name(dev))
            res.update(gpu_flop_per_s=gpu['flop_per_s'], gpu_lattices_per_s=gpu['lattices_per_s'], gpu=gpu)
    run.finish(res, name='posterior_epoch_gpu' if a.gpu_only else None)


if __name__ == '__main__':
    main()
