"""The Ising study's posterior network against the wider one, on the reconstruction benchmark's 8 x 8 settings: the
method's errors for each network on the same seeds, so the choice of the default network rests on a spread, not one run.

`small` is `hessgeo.studies.ising.PRESETS['default']` (4 features, 8 channels, no pointwise layer, three cross-fitted
networks); `wide` is the same preset with `WIDE_NETWORK` (16 features and channels, a pointwise SiLU layer, one network
and a 20% held-out share), the network the benchmark64, paper and tutorial presets keep. Each seed is the master seed of one
`hessgeo.studies.ising.run` per network: the same lattices (the bank depends on the seed alone), each network's own
initial weights, split and training draws. No baselines.

    python benchmarks/ising_network.py --threads 1               # seeds 0 1 2 (a few minutes per seed and network on one core)
    python benchmarks/ising_network.py --quick                   # the quick preset, seeds 0 1: a smoke run

Results: per network and seed the method's metric_median_rel_err, metric_p90_rel_err, F_rmse, gradF_rmse,
ridge_rel_err and the seconds of the posterior and the potential fit (`runs`); per network and figure
{"mean", "sd", "per_seed"} over the seeds (`summary`). The common arguments and the record are those of
benchmarks/common.py.
"""
import dataclasses, statistics, tempfile, time
from pathlib import Path

from common import parser, start
from hessgeo.studies import ising

FIGURES = ('metric_median_rel_err', 'metric_p90_rel_err', 'F_rmse', 'gradF_rmse', 'ridge_rel_err')


def networks(quick:bool) -> dict:
    "The presets compared: {'small': the default network, 'wide': the same settings with `WIDE_NETWORK`}, without baselines"
    p = dataclasses.replace(ising.PRESETS['quick' if quick else 'default'], baselines=False)
    return {'small': p, 'wide': dataclasses.replace(p, **ising.WIDE_NETWORK)}


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--seeds', type=int, nargs='+', default=None, help='master seeds (default 0 1 2; --quick: 0 1)')
    ap.add_argument('--work', default=None, help='folder for the sample banks (default: a temporary one)')
    run = start('ising_network', ap, argv, devices=('cpu', 'cuda'))
    a = run.args
    seeds = a.seeds if a.seeds is not None else ([0, 1] if a.quick else [0, 1, 2])
    work = Path(a.work or tempfile.mkdtemp(prefix='hessgeo_ising_network_'))
    runs = {name: [] for name in networks(a.quick)}
    for s in seeds:
        for name, p in networks(a.quick).items():
            t0 = time.time()
            rec = ising.run(p, work=work / f'{name}_seed{s}', seed=s, device=run.device, progress=False).reconstruction
            e = rec.errors['method'].summary()
            runs[name].append(dict(seed=s, **{k: e.get(k) for k in FIGURES}, posterior_s=round(rec.seconds['posterior'], 1),
                                   potential_s=round(rec.seconds['potential'], 1), seconds=round(time.time() - t0, 1)))
            r = runs[name][-1]
            print(f"seed {s} {name:5s}: metric error {r['metric_median_rel_err']:6.2%}  p90 {r['metric_p90_rel_err']:6.2%}  "
                  f"grad F {r['gradF_rmse']:.3f}  ridge {r['ridge_rel_err']:6.2%}  (posterior {r['posterior_s']} s, fit {r['potential_s']} s)",
                  flush=True)
    spread = lambda v: dict(mean=statistics.fmean(v), sd=statistics.stdev(v) if len(v) > 1 else None, per_seed=v)
    summary = {name: {k: spread([r[k] for r in rs]) for k in FIGURES + ('posterior_s',)} for name, rs in runs.items()}
    for name, s in summary.items():
        m = s['metric_median_rel_err']
        print(f"{name}: metric error {m['mean']:.2%}" + ('' if m['sd'] is None else f" ± {m['sd']:.2%}") + f" over seeds {seeds}")
    run.finish(dict(preset='quick' if a.quick else 'default', seeds=seeds, runs=runs, summary=summary))


if __name__ == '__main__': main()
