"The `hessgeo` console command, run as a user runs it: a subprocess on the installed entry point."
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

EXE = shutil.which('hessgeo') or None


def run(*args, cwd=None):
    cmd = [EXE, *args] if EXE else [sys.executable, '-c', 'import sys; from hessgeo.cli import main; sys.exit(main())', *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


def test_help_lists_jobs():
    r = run('--help')
    assert r.returncode == 0
    assert 'ising' in r.stdout


def test_ising_small_grid_writes_results_and_checks_itself(tmp_path):
    r = run('ising', '--size', '8', '--n-t', '5', '--n-h', '3', '--n-samples', '300', '--burn-in', '200',
            '--out', str(tmp_path / 'out'), '--quiet', '--seed', '3')
    assert r.returncode == 0, r.stderr
    out = tmp_path / 'out'
    assert {p.name for p in out.iterdir()} == {'ising_thermo.png', 'ising_thermo.npz', 'ising_thermo.json'}
    res = np.load(out / 'ising_thermo.npz')
    assert res['energy'].shape == (15,)
    # 4 observables x 15 points compared with the exact density of states: |z| < 4.5 fails by chance with p ~ 4e-4
    for k in ('energy', 'abs_mag', 'heat_capacity', 'susceptibility'):
        assert np.abs(res[k + '_z']).max() < 4.5, (k, res[k + '_z'])
    summary = json.loads((out / 'ising_thermo.json').read_text())
    assert summary['points'] == 15 and 'energy_max_abs_z' in summary
    assert 'wrote' in r.stdout


@pytest.mark.parametrize('args, bad', [(['--size', '7'], '7'), (['--t-min', '-1'], '-1'), (['--n-t', '0'], '0')])
def test_ising_bad_input_names_the_value(tmp_path, args, bad):
    r = run('ising', *args, '--out', str(tmp_path), '--quiet')
    assert r.returncode == 2
    assert 'error' in r.stderr and bad in r.stderr
    assert not (tmp_path / 'ising_thermo.npz').exists()


def test_unknown_job():
    r = run('nosuchjob')
    assert r.returncode == 2 and 'unknown job' in r.stderr
