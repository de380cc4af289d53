"""Reconstruction benchmark (issue 4): the method and every baseline on Ising 8x8 (exact truth), TASEP (exact truth)
and Ising 32x32 (Monte Carlo truth), scored by the same errors. The last line is a JSON object with every figure.

    python benchmarks/reconstruct.py            # default sizes (each system minutes to ~15 min on 2 CPU cores)
    python benchmarks/reconstruct.py --quick    # smoke run at tiny sizes (CI)
    python benchmarks/reconstruct.py --only ising8 tasep

Samples are cached in --work (SampleBank folders, resumable); posterior-network checkpoints too.
"""
import argparse, json, time, sys
from pathlib import Path

import numpy as np
import torch

from hessgeo.core import ParamGrid
from hessgeo.data import SampleBank, ising_sampler, tasep_exact_sampler
from hessgeo.posterior import PosteriorNet, LatticeEncoder, ChainEncoder
from hessgeo.pipeline import ising_exact_truth, ising_mc_truth, tasep_exact_truth, reconstruct, plot_reconstruction, plot_ridge

SIZES = {
    'default': dict(
        ising8=dict(L=8, grid=(16, 16), n=1024, epochs=12, bundle_size=4, features=16, classifim_steps=3000),
        tasep=dict(N=10, grid=(16, 16), n=4096, epochs=12, bundle_size=20, features=32, folds=2, classifim_steps=3000),
        ising32=dict(L=32, grid=(16, 17), n=256, epochs=4, bundle_size=1, features=16, classifim_steps=3000, truth_samples=1000, truth_chains=8)),
    'quick': dict(
        ising8=dict(L=4, grid=(6, 4), n=128, epochs=2, bundle_size=1, features=8, classifim_steps=100),
        tasep=dict(N=6, grid=(5, 5), n=128, epochs=2, bundle_size=1, features=8, classifim_steps=100),
        ising32=dict(L=8, grid=(6, 4), n=64, epochs=2, bundle_size=1, features=8, classifim_steps=100, truth_samples=200, truth_chains=4)),
}
METHODS = ('method', 'mean_as_stat', 'pca_as_stat', 'classifim')
KEYS = ('metric_median_rel_err', 'F_rmse', 'gradF_rmse', 'ridge_rel_err')


def run_system(name, cfg, work, seed, progress, threads):
    torch.set_num_threads(threads)
    t0 = time.time()
    if name.startswith('ising'):
        grid = ParamGrid((1.5, -0.5), (3.5, 0.5), cfg['grid'], names=('T', 'H'))
        L = cfg['L']
        bank = SampleBank.generate(work / f'{name}_L{L}_{cfg["grid"][0]}x{cfg["grid"][1]}_n{cfg["n"]}', grid,
                                   ising_sampler(L, n_chains=8 if cfg['n'] % 8 == 0 else 1, burn_in=300, sweeps_between=4),
                                   cfg['n'], seed=seed, progress=progress)
        truth = (ising_exact_truth(grid, L) if L <= 10 and name == 'ising8' else
                 ising_mc_truth(grid, L, n_samples=cfg['truth_samples'], n_chains=cfg['truth_chains'], seed=seed + 1000, progress=progress))
        make = lambda: PosteriorNet(LatticeEncoder(cfg['features'], 16, 1), grid, head='smooth')
    else:
        grid = ParamGrid((0.1, 0.1), (1.5, 1.5), cfg['grid'], names=('alpha', 'beta'))
        bank = SampleBank.generate(work / f'tasep_N{cfg["N"]}_{cfg["grid"][0]}x{cfg["grid"][1]}_n{cfg["n"]}', grid,
                                   tasep_exact_sampler(cfg['N']), cfg['n'], seed=seed, progress=progress)
        truth = tasep_exact_truth(grid, cfg['N'])
        make = lambda: PosteriorNet(ChainEncoder(cfg['N'], cfg['features'], hidden=128), grid, head='smooth')
    t_data = time.time() - t0
    rec = reconstruct(name, bank, truth, make, bundle_size=cfg['bundle_size'], folds=cfg.get('folds', 1), weighting='reweighted', refit=True, train=dict(epochs=cfg['epochs'], batch_size=512, lr=1e-2, patience=3),
                      classifim_steps=cfg['classifim_steps'], checkpoint=work / f'ck_{name}_{bank.root.name}_smooth{cfg["features"]}_folds{cfg.get("folds", 1)}_seed{seed}', seed=seed, progress=progress)
    rec.seconds['data'] = t_data
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='tiny sizes (smoke run)')
    ap.add_argument('--only', nargs='*', default=['ising8', 'tasep', 'ising32'], help='systems to run')
    ap.add_argument('--work', default='hessgeo_out/reconstruct_work', help='folder for sample banks and checkpoints')
    ap.add_argument('--figures', default=None, help='folder to write metric-map figures to (default: none)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=torch.get_num_threads(), help='torch threads (1 on a loaded machine)')
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    sizes = SIZES['quick' if a.quick else 'default']
    work = Path(a.work) / ('quick' if a.quick else 'default')
    out = {}
    for name in a.only:
        if name not in sizes: sys.exit(f"unknown system {name!r}; choose from {', '.join(sizes)}")
        rec = run_system(name, sizes[name], work, a.seed, not a.quiet, a.threads)
        errors = {k: e.summary() for k, e in rec.errors.items()}
        out[name] = {k: {kk: errors[k].get(kk) for kk in KEYS + (('failed',) if 'failed' in errors[k] else ())} for k in METHODS}
        out[name]['extra'] = {k: errors[k] for k in errors if k not in METHODS}
        out[name]['seconds'] = {k: round(v, 1) for k, v in rec.seconds.items()}
        out[name]['truth'] = rec.truth.name
        out[name]['posterior'] = dict(best_val_nll=rec.info['posterior_val_nll'], best_epoch=rec.info['posterior_best_epoch'], refit=rec.info['refit'])
        print(f"\n== {name}: {rec.truth.name}, {rec.info['grid']}, {rec.info['n_samples']} samples per cell, "
              f"{sum(rec.seconds.values()):.0f} s ({', '.join(f'{k} {v:.0f}' for k, v in rec.seconds.items())})")
        print(f"{'':22s} {'metric med':>10s} {'metric p90':>10s} {'F rmse':>10s} {'gradF rmse':>10s} {'ridge err':>10s}")
        for k, e in errors.items():
            f = lambda v: f"{v:10.4f}" if v is not None else f"{'-':>10s}"
            print(f"{k:22s} {f(e['metric_median_rel_err'])} {f(e['metric_p90_rel_err'])} {f(e['F_rmse'])} {f(e['gradF_rmse'])} {f(e.get('ridge_rel_err'))}")
        if a.figures:
            import matplotlib; matplotlib.use('Agg')
            import matplotlib.pyplot as plt
            Path(a.figures).mkdir(parents=True, exist_ok=True)
            fig = plot_reconstruction(rec); fig.savefig(Path(a.figures) / f'reconstruct_{name}.png', dpi=90); plt.close(fig)
            if rec.truth.ridge_T is not None:
                ax = plot_ridge(rec); ax.figure.savefig(Path(a.figures) / f'ridge_{name}.png', dpi=100); plt.close(ax.figure)
    print(json.dumps(out, default=float))


if __name__ == '__main__':
    main()
