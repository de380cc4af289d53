"""Reconstruction benchmark: the method and every baseline (Mean-as-Stat, PCA-as-Stat, ClassiFIM) on the same samples,
scored by the same errors against exact answers (Ising 8x8, TASEP) or a Monte Carlo truth (Ising 32x32).

Each system is a study's `run` at one of its presets; the benchmark adds no settings of its own:

    system    study                   preset        --quick
    ising8    hessgeo.studies.ising   'benchmark'   'quick'
    tasep     hessgeo.studies.tasep   'benchmark'   'quick'
    ising32   hessgeo.studies.ising   'benchmark32' 'quick32'

    python benchmarks/reconstruct.py                       # every system (minutes to tens of minutes each on 2 cores)
    python benchmarks/reconstruct.py --only ising8 tasep   # some of them: the record is then reconstruct_ising8_tasep
    python benchmarks/reconstruct.py --figures docs        # also the metric maps (and the ridge along H = 0) as PNGs
    python benchmarks/reconstruct.py --quick               # a smoke run at tiny sizes

Samples and posterior checkpoints are kept in --work/<benchmark or quick>/<system>_seed<seed>, so a rerun resumes.

Results, per system: for each of method, mean_as_stat, pca_as_stat and classifim its metric_median_rel_err, F_rmse,
gradF_rmse and ridge_rel_err (and `failed` where a baseline failed on degenerate data, saying why); `extra` (the
other estimates: the baselines' Fisher read-outs), `seconds`, `truth` and `posterior` (the networks' held-out NLL
before and after the head's refit). The common arguments and the record are those of benchmarks/common.py.
"""
from pathlib import Path

from common import parser, start
from hessgeo.studies import ising, tasep

SYSTEMS = {'ising8': (ising, 'benchmark', 'quick'), 'tasep': (tasep, 'benchmark', 'quick'),
           'ising32': (ising, 'benchmark32', 'quick32')}
METHODS = ('method', 'mean_as_stat', 'pca_as_stat', 'classifim')
KEYS = ('metric_median_rel_err', 'F_rmse', 'gradF_rmse', 'ridge_rel_err')


def run_system(name:str, run, work:Path):
    "The study's result for system `name` at its benchmark (or quick) preset, samples and checkpoints in `work`"
    study, full, quick = SYSTEMS[name]
    preset = study.PRESETS[quick if run.args.quick else full]
    return study.run(preset, work=work / f'{name}_seed{run.args.seed}', seed=run.args.seed, device=run.device,
                     progress=not run.args.quiet)


def system_results(rec) -> dict:
    "The record's figures of one system from its reconstruction `rec`"
    errors = {k: e.summary() for k, e in rec.errors.items()}
    out = {k: {kk: errors[k].get(kk) for kk in KEYS + (('failed',) if 'failed' in errors[k] else ())} for k in METHODS}
    out['extra'] = {k: errors[k] for k in errors if k not in METHODS}
    out['seconds'] = {k: round(v, 1) for k, v in rec.seconds.items()}
    out['truth'] = rec.truth.name
    out['posterior'] = dict(best_val_nll=rec.info['posterior_val_nll'], best_epoch=rec.info['posterior_best_epoch'],
                            refit=rec.info['refit'])
    return out


def print_system(name:str, rec):
    "The errors of every estimate of one system, as a table on the terminal"
    print(f"\n== {name}: {rec.truth.name}, {rec.info['grid']}, {rec.info['n_samples']} samples per cell, "
          f"{sum(rec.seconds.values()):.0f} s ({', '.join(f'{k} {v:.0f}' for k, v in rec.seconds.items())})")
    print(f"{'':22s} {'metric med':>10s} {'metric p90':>10s} {'F rmse':>10s} {'gradF rmse':>10s} {'ridge err':>10s}")
    f = lambda v: f"{v:10.4f}" if v is not None else f"{'-':>10s}"
    for k, e in ((k, e.summary()) for k, e in rec.errors.items()):
        print(f"{k:22s} {f(e['metric_median_rel_err'])} {f(e['metric_p90_rel_err'])} {f(e['F_rmse'])} {f(e['gradF_rmse'])} "
              f"{f(e.get('ridge_rel_err'))}")


def save_figures(name:str, rec, folder:Path):
    "The metric maps of one system (and its ridge along H = 0 where it has one) as PNGs in `folder`"
    import matplotlib; matplotlib.use('Agg')
    from hessgeo.plots import plot_reconstruction, plot_ridge, save_figure
    folder.mkdir(parents=True, exist_ok=True)
    save_figure(plot_reconstruction(rec), folder / f'reconstruct_{name}.png')
    if rec.truth.ridge_T is not None: save_figure(plot_ridge(rec).figure, folder / f'ridge_{name}.png')


def main(argv=None):
    ap = parser(__doc__)
    ap.add_argument('--only', nargs='+', default=list(SYSTEMS), choices=list(SYSTEMS), help='systems to run')
    ap.add_argument('--work', default='hessgeo_out/reconstruct_work', help='folder for sample banks and checkpoints')
    ap.add_argument('--figures', default=None, help='folder to write metric-map figures to (default: none)')
    ap.add_argument('--quiet', action='store_true', help='no progress bars')
    run = start('reconstruct', ap, argv, devices=('cpu', 'cuda'))
    work = Path(run.args.work) / ('quick' if run.args.quick else 'benchmark')
    out = {}
    for name in run.args.only:
        rec = run_system(name, run, work).reconstruction
        out[name] = system_results(rec)
        print_system(name, rec)
        if run.args.figures: save_figures(name, rec, Path(run.args.figures))
    everything = set(run.args.only) == set(SYSTEMS)
    run.finish(out, name=None if everything else 'reconstruct_' + '_'.join(run.args.only))


if __name__ == '__main__':
    main()
