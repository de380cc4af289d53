"""Seed spread of tutorial 01's small run: how far its metric and ridge errors move when only the network's seed
changes. The tutorial's assertion bounds are set from this spread, not from one lucky run.

    python benchmarks/tutorial_seeds.py                 # network seeds 0-9 at the tutorial's settings
    python benchmarks/tutorial_seeds.py --ensemble 8    # 8 potential fits per network: the spread of single fits
    python benchmarks/tutorial_seeds.py --epochs 5      # the earlier, shorter training

Each line gives the ridge error of the mean potential (what `reconstruct` reports) and the range over its members
(the single fits, seeds seed .. seed + ensemble - 1).

The last line is a JSON object with every figure.
"""
import argparse, json, tempfile, time
from pathlib import Path

import torch

from hessgeo.core import ParamGrid
from hessgeo.data import SampleBank, ising_sampler
from hessgeo.posterior import PosteriorNet, LatticeEncoder
from hessgeo.pipeline import ising_exact_truth, reconstruct, ridge_of_fit


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seeds', type=int, nargs='+', default=list(range(10)), help='network seeds')
    ap.add_argument('--epochs', type=int, default=10, help='posterior training epochs (the tutorial: 10)')
    ap.add_argument('--ensemble', type=int, default=4, help='potential fits averaged (reconstruct: 4)')
    ap.add_argument('--work', default=None, help='folder for the sample bank (default: a temporary one)')
    ap.add_argument('--threads', type=int, default=1, help='torch threads')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(a.work or tempfile.mkdtemp())
    # the tutorial's bank and settings (nbs/tutorials/01_ising_phase_diagram.ipynb)
    grid = ParamGrid((1.5, -0.5), (3.5, 0.5), (12, 10), names=('T', 'H'))
    bank = SampleBank.generate(work / 'ising8', grid, ising_sampler(8, n_chains=8, burn_in=300, sweeps_between=4), 512,
                               seed=0, progress=False)
    truth = ising_exact_truth(grid, 8)
    runs = []
    for s in a.seeds:
        t0 = time.time()
        rec = reconstruct('ising8', bank, truth, lambda: PosteriorNet(LatticeEncoder(16, 16, 1), grid, head='smooth'),
                          train=dict(epochs=a.epochs, batch_size=512, lr=1e-2), fit=dict(steps=200, lbfgs_steps=150, ensemble=a.ensemble),
                          baselines=(), progress=False, seed=s)
        e = rec.errors['method'].summary()
        members = [abs(ridge_of_fit(m) / truth.ridge_T - 1) for m in (rec.fit.members or [rec.fit])]
        runs.append(dict(seed=s, metric_median_rel_err=e['metric_median_rel_err'], ridge_rel_err=e['ridge_rel_err'],
                         ridge_T=rec.fields['method']['ridge_T'], member_ridge_rel_err=members, seconds=round(time.time() - t0, 1)))
        print(f"seed {s}: metric error {e['metric_median_rel_err']:6.1%}  ridge error {e['ridge_rel_err']:6.2%}  "
              f"(single fits {min(members):.2%} - {max(members):.2%}; {runs[-1]['seconds']} s)", flush=True)
    m, r = [x['metric_median_rel_err'] for x in runs], [x['ridge_rel_err'] for x in runs]
    sm = [x for run in runs for x in run['member_ridge_rel_err']]
    print(f"metric error {min(m):.1%} - {max(m):.1%}, ridge error {min(r):.2%} - {max(r):.2%} (mean {sum(r) / len(r):.2%}) over "
          f"{len(runs)} seeds; single fits' ridge error {min(sm):.2%} - {max(sm):.2%} (mean {sum(sm) / len(sm):.2%})")
    print(json.dumps(dict(epochs=a.epochs, ensemble=a.ensemble, exact_ridge_T=truth.ridge_T, runs=runs, metric_max=max(m), ridge_max=max(r))))


if __name__ == '__main__': main()
