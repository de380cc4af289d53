"The reconstruction benchmark's smoke size end to end, as a user runs it: every system, every method, the JSON it ends with."
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_reconstruct_quick_prints_every_figure(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'reconstruct.py'), '--quick', '--quiet', '--threads', '1',
                        '--work', str(tmp_path / 'work'), '--figures', str(tmp_path / 'fig')],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])['results']   # the record of benchmarks/common.py
    assert set(res) == {'ising8', 'tasep', 'ising32'}
    for system, methods in res.items():
        for m in ('method', 'mean_as_stat', 'pca_as_stat', 'classifim'):
            e = methods[m]
            assert set(e) >= {'metric_median_rel_err', 'F_rmse', 'gradF_rmse'}, (system, m)
            if e.get('failed'):   # a baseline may fail on degenerate tiny data (e.g. identical statistics): it says why
                assert m != 'method' and e['metric_median_rel_err'] is None, (system, m, e)
                continue
            assert math.isfinite(e['metric_median_rel_err']) and e['metric_median_rel_err'] >= 0
            if system.startswith('ising'):
                assert e['ridge_rel_err'] is not None and math.isfinite(e['ridge_rel_err'])
        # F and grad F exist for Ising (exact or Monte Carlo truth) and not for the TASEP (no exponential family)
        assert (methods['method']['F_rmse'] is None) == (system == 'tasep')
    assert {p.name for p in (tmp_path / 'fig').iterdir()} >= {'reconstruct_ising8.png', 'reconstruct_tasep.png', 'ridge_ising8.png'}
