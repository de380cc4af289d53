"""ClassiFIM: hessgeo's implementation beside its authors' own code, on the reconstruction benchmark's Ising 8 x 8 bank.

The bank is `benchmarks/reconstruct.py`'s Ising 8 x 8 case: a 16 x 16 grid over T in [1.5, 3.5], H in [-0.5, 0.5],
1024 lattices of the 8 x 8 torus per point (Metropolis + Wolff chains, seed `--seed`). Every run is scored by
`hessgeo.pipeline.score_fields` against the exact metric from the density of states.

- `hessgeo`: `hessgeo.baselines.classifim` at its defaults (the authors' settings), once per `--schedules` entry:
  `step` advances the one-cycle schedule every batch (the default), `epoch` once per epoch as the authors' code does.
- `authors`: the authors' `classifim.ising2d.Pipeline` with `ModelNaiveCNN`, configured as in their
  `example/isnnn_400.ipynb` (weight decay 1e-5, batch 2^14, one-cycle Adam with max lr 1e-2 and pct_start 0.1, the
  whole bank as the training set, no hold-out), trained and read out (`eval_fim`) by their code. It runs only with
  `--authors-src`, the `src` folder of a local checkout of their repository (USCqserver/classifim); their code
  needs pandas, scikit-learn and pyarrow.

Each (implementation, seed) pair trains one network from that seed for `--epochs` epochs; the seeds are the
implementations' own (their runs are seeded through their `DeterministicPrng`), so equal seeds do not mean equal
random streams.

    python benchmarks/classifim_authors.py --threads 1 --authors-src ~/src/classifim/src --seeds 0 1 2 3
    python benchmarks/classifim_authors.py --quick                  # hessgeo only, 2 epochs, one seed: a smoke run

Results: `same_network_max_abs_diff` (with `--authors-src`: the largest difference of the score and the logit between
their `ModelNaiveCNN` and `hessgeo.baselines.ClassifimNet` given the same weights and inputs); per run `median`, `p90` (relative metric error over the cells), `row_median` (median per temperature row,
lowest T first), `worst_rows` (the two worst temperatures), `train_seconds`, `final_loss`; per implementation the
mean +- sd of the medians over the seeds. The common arguments and the record are those of benchmarks/common.py.
"""
from __future__ import annotations
import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import parser, start   # first: it sets the OpenMP wait policy before torch loads
import torch

from hessgeo.baselines import classifim
from hessgeo.core import ParamGrid
from hessgeo.data import SampleBank, ising_sampler
from hessgeo.pipeline import ising_exact_truth, score_fields
from hessgeo.potential import metric_error

GRID = ParamGrid((1.5, -0.5), (3.5, 0.5), (16, 16), names=('T', 'H'))


def authors_pipeline(src:Path):
    "The authors' `classifim.ising2d` module from the checkout's `src` folder, or a clear error naming what is missing"
    if not (src / 'classifim' / 'ising2d.py').is_file():
        raise SystemExit(f"--authors-src {src}: no classifim/ising2d.py there; give the src folder of a checkout of the authors' repository")
    sys.path.insert(0, str(src))
    try:
        import classifim.ising2d as ci
    except ImportError as e:
        raise SystemExit(f"the authors' code at {src} could not be imported ({e}); it needs pandas, scikit-learn and pyarrow") from None
    return ci


def same_network(ci) -> float:
    "Largest difference of score and logit between the authors' ModelNaiveCNN and hessgeo's ClassifimNet given the same weights and inputs"
    from hessgeo.baselines import ClassifimNet, NaiveCNN, patch_freq, patch_index
    torch.manual_seed(0)
    theirs, enc = ci.ModelNaiveCNN(8, 8), NaiveCNN()
    ours = ClassifimNet(enc, enc.features)
    ours.pair.load_state_dict(theirs.lambdas_fc.state_dict()); ours.fc.load_state_dict(theirs.fc.state_dict())
    enc.conv.load_state_dict(theirs.zs_cnn[0].state_dict())
    z = (torch.rand(4096, 8, 8) < 0.3).float() * 2 - 1
    lam, dl = torch.rand(4096, 2) * 2 - 1, torch.rand(4096, 2) - 0.5
    with torch.no_grad():
        s1, l1 = theirs(lam, dl, z)
        s2, l2 = ours.head(lam, dl, enc.from_counts(patch_freq(patch_index(z, (-1.0, 1.0))), (-1.0, 1.0)))
    return float(max((s1 - s2).abs().max(), (l1 - l2).abs().max()))


def run_authors(ci, x:np.ndarray, # (G, n, 8, 8) int8 spins
                epochs:int, seed:int):
    "Train and read out the authors' pipeline on the bank: (metric (G, 2, 2), seconds, final loss)"
    G, n, L1, L2 = x.shape
    bits = (x.reshape(G * n, L1, L2) > 0).astype(np.int64)
    d_train = dict(lambdas=np.repeat(GRID.points, n, 0).astype(np.float64), samples=(bits << np.arange(L2)).sum(-1).astype(np.int32),
                   width=np.array(L2), height=np.array(L1), seed=np.array(seed))   # their format: a row of spins packed into an int32
    config = {'seed': seed, 'scalar_keys': ['seed', 'height', 'width'], 'hold_out_test': False, 'num_epochs': epochs,
              'device': 'cpu', 'model_name': 'naive-cnn', 'weight_decay': 1e-5}
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):   # their training log
        p = ci.Pipeline(config, d_train=d_train)
        res = p.train()
        seconds = time.perf_counter() - t0
        fim = p.eval_fim()
    pts = np.stack([fim['lambda0'], fim['lambda1']], 1)
    idx = [int(np.argmin(((pts - q) ** 2).sum(1))) for q in GRID.points]
    M = np.stack([np.stack([fim['fim_00'][idx], fim['fim_01'][idx]], -1), np.stack([fim['fim_01'][idx], fim['fim_11'][idx]], -1)], -2)
    return torch.as_tensor(M), seconds, res['loss'][-1]


def run_hessgeo(x:torch.Tensor, epochs:int, seed:int, schedule:str):
    "hessgeo's classifim on the bank: (metric (G, 2, 2), seconds, final loss)"
    r = classifim(x, GRID, epochs=epochs, seed=seed, schedule=schedule, progress=False)
    return r.metric, r.info['seconds'], r.info['train_loss']


def score(metric, truth) -> dict:
    "Median and p90 error, the per-row medians and the two worst rows"
    s = score_fields(metric, truth)
    rows = np.median(GRID.reshape(metric_error(metric, truth.metric).numpy()), 1)
    return dict(median=s.metric_median_rel_err, p90=s.metric_p90_rel_err, row_median=[round(float(v), 4) for v in rows],
                worst_rows=[round(float(GRID.axes[0][i]), 3) for i in np.argsort(rows)[::-1][:2]])


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--authors-src', type=Path, default=None, help="src folder of a checkout of the authors' repository (else only hessgeo runs)")
    ap.add_argument('--epochs', type=int, default=20, help='training epochs of every run')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3], help='seeds of the runs (each implementation its own streams)')
    ap.add_argument('--schedules', nargs='+', choices=('step', 'epoch'), default=['step', 'epoch'], help="hessgeo's schedules to run")
    ap.add_argument('--work', type=Path, default=Path('hessgeo_out') / 'benchmarks', help='folder of the bank (reused when it holds these settings)')
    run = start('classifim_authors', ap, argv)
    a = run.args
    if a.epochs < 1: ap.error(f"--epochs must be at least 1, got {a.epochs}")
    ci = authors_pipeline(a.authors_src.expanduser()) if a.authors_src is not None else None   # before any sampling
    epochs, seeds, n = (2, a.seeds[:1], 64) if a.quick else (a.epochs, a.seeds, 1024)
    folder = a.work / f'ising8_L8_16x16_n{n}_seed{a.seed}'
    bank = SampleBank.generate(folder, GRID, ising_sampler(8, n_chains=8, burn_in=300, sweeps_between=4), n, seed=a.seed,
                               progress=False)   # reuses a complete bank of these settings; refuses one of others
    x, truth = torch.as_tensor(bank.load()), ising_exact_truth(GRID, 8)
    impls = [(f'hessgeo ({s} schedule)', lambda sd, s=s: run_hessgeo(x, epochs, sd, s)) for s in a.schedules]
    if ci is not None: impls.append(('authors', lambda sd: run_authors(ci, x.numpy(), epochs, sd)))
    runs, summary, extra = [], {}, {}
    if ci is not None:
        extra['same_network_max_abs_diff'] = same_network(ci)
        print(f"same weights, same inputs: scores and logits differ by at most {extra['same_network_max_abs_diff']:.1e}", flush=True)
    for name, fn in impls:
        for sd in seeds:
            metric, seconds, loss = fn(sd)
            r = dict(implementation=name, seed=sd, **score(metric, truth), train_seconds=round(seconds, 1), final_loss=round(float(loss), 5))
            print(f"{name:26s} seed {sd}: median {r['median']:.4f}  p90 {r['p90']:.4f}  worst rows T = {r['worst_rows']}  "
                  f"{seconds:.0f} s", flush=True)
            runs.append(r)
        med = [r['median'] for r in runs if r['implementation'] == name]
        summary[name] = dict(mean=statistics.fmean(med), sd=statistics.stdev(med) if len(med) > 1 else None, per_seed=med)
    run.finish(dict(epochs=epochs, lattices_per_point=n, grid=repr(GRID), runs=runs, median_rel_err=summary, **extra))


if __name__ == '__main__':
    main()
