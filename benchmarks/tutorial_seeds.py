"""Seed spread of tutorial 01's run: how far its metric and ridge errors move when only the networks' seed changes, for
the mean of the potential fits (what `reconstruct` reports) against the single fits it averages. The tutorial's
assertion bounds are set from this spread, not from one lucky run.

The settings are `hessgeo.studies.ising.PRESETS['tutorial']` (`--quick`: `PRESETS['quick']`): one sample bank made with
`--seed`, then for each network seed the method with `--ensemble` potential fits (seeds seed .. seed + ensemble - 1).

    python benchmarks/tutorial_seeds.py                 # network seeds 0-9
    python benchmarks/tutorial_seeds.py --ensemble 8    # 8 potential fits per network: the spread of single fits
    python benchmarks/tutorial_seeds.py --epochs 5      # a shorter training than the preset's
    python benchmarks/tutorial_seeds.py --quick         # 2 network seeds at the quick preset: a smoke run

Results: per network seed its metric and ridge errors and its single fits' ridge errors (`runs`); over the seeds
metric_min/metric_max, ridge_max/ridge_mean (mean of the fits) and single_fit_ridge_max/single_fit_ridge_mean. The
common arguments and the record are those of benchmarks/common.py.
"""
import dataclasses, tempfile, time
from pathlib import Path

from common import parser, start
from hessgeo.data import SampleBank, ising_sampler
from hessgeo.pipeline import ising_exact_truth, reconstruct, ridge_of_fit
from hessgeo.studies import ising


def one_seed(p, bank, truth, seed:int, ensemble:int, device):
    "The method on `bank` with the preset `p`'s settings, networks and fits seeded by `seed`: its errors and its fits' ridges"
    make = p.posterior_net
    rec = reconstruct('ising', bank, truth, make, bundle_size=p.bundle_size, folds=p.folds,
                      train=dict(epochs=p.epochs, batch_size=512, lr=p.lr, patience=p.patience, device=device),
                      fit=dict(steps=p.fit_steps, lbfgs_steps=p.fit_lbfgs_steps, ensemble=ensemble), baselines=(),
                      progress=False, seed=seed)
    e = rec.errors['method'].summary()
    members = [abs(ridge_of_fit(m) / truth.ridge_T - 1) for m in (rec.fit.members or [rec.fit])]
    return dict(seed=seed, metric_median_rel_err=e['metric_median_rel_err'], ridge_rel_err=e['ridge_rel_err'],
                ridge_T=rec.fields['method']['ridge_T'], member_ridge_rel_err=members)


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--seeds', type=int, nargs='+', default=None, help='network seeds (default 0-9; --quick: 0 1)')
    ap.add_argument('--epochs', type=int, default=None, help="posterior training epochs (default: the preset's)")
    ap.add_argument('--ensemble', type=int, default=4, help='potential fits averaged (reconstruct: 4)')
    ap.add_argument('--work', default=None, help='folder for the sample bank (default: a temporary one)')
    run = start('tutorial_seeds', ap, argv, devices=('cpu', 'cuda'))
    a = run.args
    p = ising.PRESETS['quick' if a.quick else 'tutorial']
    if a.epochs is not None: p = dataclasses.replace(p, epochs=a.epochs)
    seeds = a.seeds if a.seeds is not None else ([0, 1] if a.quick else list(range(10)))
    work = Path(a.work or tempfile.mkdtemp(prefix='hessgeo_tutorial_seeds_'))
    sampler = ising_sampler(p.size, n_chains=p.n_chains, burn_in=p.burn_in, sweeps_between=p.sweeps_between)
    bank = SampleBank.generate(work / f'ising{p.size}', p.grid, sampler, p.n_samples, seed=a.seed, progress=False)
    truth = ising_exact_truth(p.grid, p.size)
    runs = []
    for s in seeds:
        t0 = time.time()
        runs.append(one_seed(p, bank, truth, s, a.ensemble, run.device))
        r = runs[-1]; r['seconds'] = round(time.time() - t0, 1)
        print(f"seed {s}: metric error {r['metric_median_rel_err']:6.1%}  ridge error {r['ridge_rel_err']:6.2%}  (single fits "
              f"{min(r['member_ridge_rel_err']):.2%} - {max(r['member_ridge_rel_err']):.2%}; {r['seconds']} s)", flush=True)
    m, r = [x['metric_median_rel_err'] for x in runs], [x['ridge_rel_err'] for x in runs]
    sm = [x for run_ in runs for x in run_['member_ridge_rel_err']]
    print(f"metric error {min(m):.1%} - {max(m):.1%}, ridge error {min(r):.2%} - {max(r):.2%} (mean {sum(r) / len(r):.2%}) over "
          f"{len(runs)} seeds; single fits' ridge error {min(sm):.2%} - {max(sm):.2%} (mean {sum(sm) / len(sm):.2%})")
    run.finish(dict(preset='quick' if a.quick else 'tutorial', epochs=p.epochs, ensemble=a.ensemble,
                    exact_ridge_T=truth.ridge_T, runs=runs, metric_min=min(m), metric_max=max(m), ridge_max=max(r),
                    ridge_mean=sum(r) / len(r), single_fit_ridge_max=max(sm), single_fit_ridge_mean=sum(sm) / len(sm)))


if __name__ == '__main__': main()
