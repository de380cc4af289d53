"The reconstruction benchmark's smoke size end to end, as a user runs it: every system, every method, two seeds, the JSON it ends with."
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))
import reconstruct   # noqa: E402  (benchmarks/ is not a package: its scripts import common.py from their own folder)

KEYS = ('metric_median_rel_err', 'F_rmse', 'gradF_rmse', 'ridge_rel_err')


def test_spread_and_beats():
    s = reconstruct.spread([0.1, 0.3, None])
    assert s['per_seed'] == [0.1, 0.3, None] and math.isclose(s['mean'], 0.2) and math.isclose(s['sd'], statistics.stdev([0.1, 0.3]))
    assert reconstruct.spread([0.5]) == dict(mean=0.5, sd=None, per_seed=[0.5])
    assert reconstruct.spread([None, None]) == dict(mean=None, sd=None, per_seed=[None, None])
    e = lambda m, b: {'method': {'metric_median_rel_err': m, 'F_rmse': None}, 'pca_as_stat': {'metric_median_rel_err': b, 'F_rmse': 0.1}}
    assert reconstruct.beats_method([e(0.2, 0.1), e(0.2, 0.3), e(0.5, 0.4)], [0, 1, 2]) == {'pca_as_stat': {'metric_median_rel_err': [0, 2]}}
    assert 'no other estimate beats the method' in reconstruct.beats_line('ising8', {})
    assert reconstruct.beats_line('x', {'pca_as_stat': {'F_rmse': [1, 2]}}) == 'x: lower error than the method: pca_as_stat on F_rmse (seeds 1, 2).'


@pytest.mark.parametrize('bad', [['--seeds', '0', '0'], ['--seeds', '-1']])
def test_bad_seeds_refused(bad, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'reconstruct.py'), '--quick', '--work', str(tmp_path), *bad],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and '--seeds' in r.stderr and not any(tmp_path.iterdir())


def test_reconstruct_quick_two_seeds(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'reconstruct.py'), '--quick', '--quiet', '--threads', '1',
                        '--seeds', '0', '1', '--work', str(tmp_path / 'work'), '--figures', str(tmp_path / 'fig')],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads(r.stdout.strip().splitlines()[-1])   # the record of benchmarks/common.py
    res = rec['results']
    assert rec['seed'] == [0, 1] and set(res) == set(reconstruct.SYSTEMS)
    for system, out in res.items():
        assert out['seeds'] == [0, 1] and {p.name for p in (tmp_path / 'work' / 'quick').iterdir()} >= {f'{system}_seed0', f'{system}_seed1'}
        for m in ('method', 'mean_as_stat', 'pca_as_stat', 'classifim', 'mean_as_stat_fisher', 'pca_as_stat_fisher'):
            for key in KEYS:
                s = out[m][key]
                assert set(s) == {'mean', 'sd', 'per_seed'} and len(s['per_seed']) == 2, (system, m, key)
                v = [x for x in s['per_seed'] if x is not None]
                if v: assert math.isclose(s['mean'], statistics.fmean(v)) and (s['sd'] is None) == (len(v) < 2), (system, m, key)
                else: assert s['mean'] is None and s['sd'] is None
            if 'failed' in out[m]:   # a baseline may fail on degenerate tiny data: it says why, on which seed
                assert m != 'method' and set(out[m]['failed']) <= {'0', '1'}
        e = out['method']
        assert all(math.isfinite(x) for x in e['metric_median_rel_err']['per_seed'])
        assert (e['F_rmse']['mean'] is None) == (system == 'tasep')     # F exists for Ising (exact or Monte Carlo truth), not the TASEP
        assert (e['ridge_rel_err']['mean'] is None) == (system == 'tasep')
        assert set(out['seconds']) >= {'posterior', 'potential', 'method', 'classifim', 'mean_as_stat', 'pca_as_stat', 'data'}
        assert all(x >= 0 for x in out['seconds']['classifim']['per_seed'])
        # who beats the method, seed by seed, is what the per-seed figures say
        for k, figs in out['beats_method'].items():
            for key, seeds in figs.items():
                for s in seeds: assert out[k][key]['per_seed'][s] < out['method'][key]['per_seed'][s]
        assert f'== {system}: mean ± sd over 2 seeds (0, 1)' in r.stdout and f'== {system}, seed 1:' in r.stdout
        assert reconstruct.beats_line(system, out['beats_method']) in r.stdout
    assert {p.name for p in (tmp_path / 'fig').iterdir()} >= {'reconstruct_ising8.png', 'reconstruct_tasep.png', 'ridge_ising8.png'}
