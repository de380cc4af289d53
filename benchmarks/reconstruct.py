"""Reconstruction benchmark: the method and every baseline (Mean-as-Stat, PCA-as-Stat, ClassiFIM) on the same samples,
scored by the same errors against exact answers (Ising 8x8, TASEP) or a Monte Carlo truth (Ising 32x32, 64x64), over
one or several seeds.

Each system is a study's `run` at one of its presets; the benchmark adds no settings of its own:

    system    study                   preset        --quick
    ising8    hessgeo.studies.ising   'benchmark'   'quick'
    tasep     hessgeo.studies.tasep   'benchmark'   'quick'
    ising32   hessgeo.studies.ising   'benchmark32' 'quick32'
    ising64   hessgeo.studies.ising   'benchmark64' 'quick64'

    python benchmarks/reconstruct.py                       # every system, seed 0 (minutes to tens of minutes each on 2 cores, ising64 up to an hour)
    python benchmarks/reconstruct.py --seeds 0 1 2         # every system once per seed: means and spreads over the seeds
    python benchmarks/reconstruct.py --only ising8 tasep   # some of them: the record is then reconstruct_ising8_tasep
    python benchmarks/reconstruct.py --figures docs        # also the metric maps (and the ridge along H = 0) as PNGs
    python benchmarks/reconstruct.py --quick               # a smoke run at tiny sizes

`--seed` runs one seed; `--seeds` runs several (and takes the place of `--seed`). A seed is the master seed of the whole
run: samples, networks, potential fits, baselines and the Monte Carlo truth. Samples and posterior checkpoints are
kept in --work/<benchmark or quick>/<system>_seed<seed>, so a rerun resumes (its seconds then count only the work
left).

Results, per system and per estimate (method, mean_as_stat, pca_as_stat, classifim and the baselines' Fisher read-outs
mean_as_stat_fisher, pca_as_stat_fisher): for metric_median_rel_err, F_rmse, gradF_rmse and ridge_rel_err a
{"mean", "sd", "per_seed"} (sd the sample standard deviation over the seeds, null for one seed; a figure an estimate
does not have, such as a baseline's F, stays null; mean and sd are over the seeds that have it), and `failed` {seed: why}
where a baseline failed on degenerate data; `boundary_median_rel_err` and `interior_median_rel_err`, the median metric
error over the grid's outermost cells and over the rest, in the same form (printed per seed too). Also per system `seconds` per stage (data, posterior, potential, method =
posterior + potential, each baseline) as {"mean", "sd", "per_seed"}, `beats_method` {estimate: {figure: [seeds]}}: where
an estimate's error is below the method's, `seeds`, `truth` and `posterior` per seed (the networks' held-out NLL before
and after the head's refit). The common arguments and the record are those of benchmarks/common.py; the record's
`seed` is the list of seeds when there are several.
"""
from __future__ import annotations
import statistics
from pathlib import Path

from common import parser, start
from hessgeo.studies import ising, tasep

SYSTEMS = {'ising8': (ising, 'benchmark', 'quick'), 'tasep': (tasep, 'benchmark', 'quick'),
           'ising32': (ising, 'benchmark32', 'quick32'), 'ising64': (ising, 'benchmark64', 'quick64')}
METHODS = ('method', 'mean_as_stat', 'pca_as_stat', 'classifim')
KEYS = ('metric_median_rel_err', 'F_rmse', 'gradF_rmse', 'ridge_rel_err')
LABELS = {'metric_median_rel_err': 'metric med', 'F_rmse': 'F rmse', 'gradF_rmse': 'gradF rmse', 'ridge_rel_err': 'ridge err'}


def run_system(name:str, run, work:Path, seed:int):
    "The study's result for system `name` at its benchmark (or quick) preset and master seed `seed`, samples and checkpoints in `work`"
    study, full, quick = SYSTEMS[name]
    preset = study.PRESETS[quick if run.args.quick else full]
    told = dict(go_on=True) if study is ising else {}   # the benchmark's sizes are chosen: no stop on the time estimate (it is warned)
    return study.run(preset, work=work / f'{name}_seed{seed}', seed=seed, device=run.device, progress=not run.args.quiet, **told)


def spread(values:list) -> dict:
    "Mean and sample standard deviation of the values that are not None (sd None below two), beside the values per seed"
    v = [x for x in values if x is not None]
    return dict(mean=statistics.fmean(v) if v else None, sd=statistics.stdev(v) if len(v) > 1 else None, per_seed=list(values))


def seconds_of(rec) -> dict:
    "Seconds per stage of one reconstruction, with the method's own (posterior + potential)"
    s = dict(rec.seconds)
    s['method'] = s.get('posterior', 0.0) + s.get('potential', 0.0)
    return s


def names(dicts:list) -> list:
    "The keys of several dicts, in order of first appearance"
    return list(dict.fromkeys(k for d in dicts for k in d))


def beats_method(errors:list, seeds:list) -> dict:
    "{estimate: {figure: [seeds]}}: where another estimate's error is below the method's (figures both have, seed by seed)"
    out = {}
    for k in names(errors):
        if k == 'method': continue
        for key in KEYS:
            won = [s for s, e in zip(seeds, errors) if e.get(k, {}).get(key) is not None and e['method'].get(key) is not None
                   and e[k][key] < e['method'][key]]
            if won: out.setdefault(k, {})[key] = won
    return out


def boundary_and_interior(rec) -> dict:
    "{estimate: {boundary, interior}}: median relative metric error over the grid's outermost cells and over the others"
    import numpy as np
    from hessgeo.potential import metric_error
    shape = tuple(rec.truth.grid.shape)
    edge = np.zeros(shape, bool); edge[0] = edge[-1] = True; edge[:, 0] = edge[:, -1] = True
    out = {}
    for k, f in rec.fields.items():
        e = metric_error(f['metric'], rec.truth.metric).numpy().reshape(shape)
        out[k] = dict(boundary=float(np.median(e[edge])), interior=float(np.median(e[~edge])))
    return out


def system_results(recs:list, seeds:list) -> dict:
    "The record's figures of one system from its reconstructions `recs`, one per seed in `seeds`"
    errors = [{k: e.summary() for k, e in rec.errors.items()} for rec in recs]
    out = {}
    for k in names(errors):
        out[k] = {key: spread([e.get(k, {}).get(key) for e in errors]) for key in KEYS}
        failed = {str(s): e[k]['failed'] for s, e in zip(seeds, errors) if 'failed' in e.get(k, {})}
        if failed: out[k]['failed'] = failed
    regions = [boundary_and_interior(rec) for rec in recs]
    for k in names(regions):
        if k in out:
            for where in ('boundary', 'interior'): out[k][f'{where}_median_rel_err'] = spread([r.get(k, {}).get(where) for r in regions])
    secs = [seconds_of(rec) for rec in recs]
    out['seconds'] = {k: spread([None if k not in s else round(s[k], 2) for s in secs]) for k in names(secs)}
    out['beats_method'] = beats_method(errors, seeds)
    out['seeds'] = list(seeds)
    out['truth'] = [rec.truth.name for rec in recs]
    out['posterior'] = [dict(best_val_nll=rec.info['posterior_val_nll'], best_epoch=rec.info['posterior_best_epoch'],
                             refit=rec.info['refit']) for rec in recs]
    return out


def print_system(name:str, rec, seed:int):
    "The errors of every estimate of one system at one seed, as a table on the terminal"
    print(f"\n== {name}, seed {seed}: {rec.truth.name}, {rec.info['grid']}, {rec.info['n_samples']} samples per cell, "
          f"{sum(rec.seconds.values()):.0f} s ({', '.join(f'{k} {v:.0f}' for k, v in rec.seconds.items())})")
    print(f"{'':22s} {'metric med':>10s} {'metric p90':>10s} {'F rmse':>10s} {'gradF rmse':>10s} {'ridge err':>10s}")
    f = lambda v: f"{v:10.4f}" if v is not None else f"{'-':>10s}"
    for k, e in ((k, e.summary()) for k, e in rec.errors.items()):
        print(f"{k:22s} {f(e['metric_median_rel_err'])} {f(e['metric_p90_rel_err'])} {f(e['F_rmse'])} {f(e['gradF_rmse'])} "
              f"{f(e.get('ridge_rel_err'))}")
    print('median metric error on the boundary cells / the interior: ' +
          ', '.join(f"{k} {v['boundary']:.3f} / {v['interior']:.3f}" for k, v in boundary_and_interior(rec).items()))


def mean_sd(s:dict, digits:int=4) -> str:
    "A {mean, sd} as 'mean ± sd' ('mean' alone for one seed, '-' where there is none)"
    if s['mean'] is None: return '-'
    return f"{s['mean']:.{digits}f}" + ('' if s['sd'] is None else f" ± {s['sd']:.{digits}f}")


def beats_line(name:str, beats:dict) -> str:
    "One sentence per system: which estimates beat the method on which seeds and figures"
    if not beats: return f"{name}: no other estimate beats the method on any seed and figure."
    parts = [f"{k} on " + ', '.join(f"{key} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})" for key, s in v.items())
             for k, v in beats.items()]
    return f"{name}: lower error than the method: " + '; '.join(parts) + '.'


def print_summary(out:dict):
    "The final table over the seeds: 'mean ± sd' per system, estimate and figure, the seconds per stage, who beats the method"
    for name, res in out.items():
        n = len(res['seeds'])
        print(f"\n== {name}: mean ± sd over {n} seed{'s' if n > 1 else ''} ({', '.join(map(str, res['seeds']))})")
        print(f"{'':22s}" + ''.join(f"{LABELS[k]:>22s}" for k in KEYS))
        for k, v in res.items():
            if isinstance(v, dict) and 'metric_median_rel_err' in v:
                print(f"{k:22s}" + ''.join(f"{mean_sd(v[key]):>22s}" for key in KEYS) + ('  (failed on some seeds)' if 'failed' in v else ''))
        print('seconds: ' + ', '.join(f"{k} {mean_sd(s, 1)}" for k, s in res['seconds'].items()))
        print(beats_line(name, res['beats_method']))


def save_figures(name:str, rec, folder:Path):
    "The metric maps of one system (and its ridge along H = 0 where it has one) as PNGs in `folder`"
    import matplotlib; matplotlib.use('Agg')
    from hessgeo.plots import plot_reconstruction, plot_ridge, save_figure
    folder.mkdir(parents=True, exist_ok=True)
    save_figure(plot_reconstruction(rec), folder / f'reconstruct_{name}.png')
    if rec.truth.ridge_T is not None: save_figure(plot_ridge(rec).figure, folder / f'ridge_{name}.png')


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--seeds', type=int, nargs='+', default=None, help='several master seeds (instead of --seed): one run of every system per seed')
    ap.add_argument('--only', nargs='+', default=list(SYSTEMS), choices=list(SYSTEMS), help='systems to run')
    ap.add_argument('--work', default='hessgeo_out/reconstruct_work', help='folder for sample banks and checkpoints')
    ap.add_argument('--figures', default=None, help="folder to write metric-map figures to (default: none; the first seed's)")
    ap.add_argument('--quiet', action='store_true', help='no progress bars')
    run = start('reconstruct', ap, argv, devices=('cpu', 'cuda'))
    seeds = run.args.seeds if run.args.seeds is not None else [run.args.seed]
    bad = [s for s in seeds if s < 0]
    if bad: ap.error(f"--seeds must be >= 0, got {bad[0]}")
    if len(set(seeds)) < len(seeds): ap.error(f"--seeds must differ from one another, got {' '.join(map(str, seeds))}")
    if len(seeds) > 1: run.args.seed = seeds   # the record's seed: the list
    work = Path(run.args.work) / ('quick' if run.args.quick else 'benchmark')
    out = {}
    for name in run.args.only:
        recs = []
        for seed in seeds:
            rec = run_system(name, run, work, seed).reconstruction
            print_system(name, rec, seed)
            if run.args.figures and not recs: save_figures(name, rec, Path(run.args.figures))
            recs.append(rec)
        out[name] = system_results(recs, seeds)
    print_summary(out)
    everything = set(run.args.only) == set(SYSTEMS)
    run.finish(out, name=None if everything else 'reconstruct_' + '_'.join(run.args.only))


if __name__ == '__main__':
    main()
