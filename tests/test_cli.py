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


def test_ising_thermo_small_grid_writes_results_and_checks_itself(tmp_path):
    r = run('ising-thermo', '--size', '8', '--n-t', '5', '--n-h', '3', '--n-samples', '300', '--burn-in', '200',
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
def test_ising_thermo_bad_input_names_the_value(tmp_path, args, bad):
    r = run('ising-thermo', *args, '--out', str(tmp_path), '--quiet')
    assert r.returncode == 2
    assert 'error' in r.stderr and bad in r.stderr
    assert not (tmp_path / 'ising_thermo.npz').exists()


def test_ising_method_tiny_run_writes_maps_and_errors(tmp_path):
    out = tmp_path / 'm'
    r = run('ising', '--size', '4', '--n-t', '5', '--n-h', '4', '--n-samples', '64', '--epochs', '2', '--fit-steps', '100', '--fit-lbfgs-steps', '50',
            '--baselines', '--classifim-steps', '100', '--out', str(out), '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    for f in ('ising_metric.png', 'ising_phase_diagram.png'): assert (out / f).stat().st_size > 10_000, f
    res = json.loads((out / 'ising_results.json').read_text())
    assert set(res) >= {'method', 'mean_as_stat', 'pca_as_stat', 'classifim', 'seconds'}
    assert res['truth'].startswith('exact density of states, L = 4')
    assert 'metric error vs exact density of states' in r.stdout


@pytest.mark.parametrize('job, args, bad', [('ising', ['--size', '7'], '7'), ('ising', ['--n-samples', '60'], '60'),
                                            ('tasep', ['--size', '30'], '30'), ('tasep', ['--b-min', '-0.5'], '-0.5')])
def test_method_jobs_bad_input_names_the_value(tmp_path, job, args, bad):
    r = run(job, *args, '--out', str(tmp_path), '--quiet')
    assert r.returncode == 2 and 'error' in r.stderr and bad in r.stderr, r.stderr
    assert not list(tmp_path.glob('*_results.json'))


def test_unknown_job():
    r = run('nosuchjob')
    assert r.returncode == 2 and 'unknown job' in r.stderr


def test_each_job_has_help():
    for job in ('ising', 'tasep', 'ising-thermo', 'diffusion', 'geodesic', 'localgeo', 'salad'):
        r = run(job, '--help')
        assert r.returncode == 0, (job, r.stderr)
        assert '--out' in r.stdout and '--quiet' in r.stdout


def test_diffusion_tiny_plane_writes_maps_and_resumes(tmp_path):
    out = tmp_path / 'd'
    args = ('diffusion', '--n-grid', '4', '--steps', '3', '--fit-steps', '30', '--out', str(out), '--quiet')
    r = run(*args)
    assert r.returncode == 0, r.stderr
    for f in ('diffusion_mosaic.png', 'diffusion_phases.png', 'diffusion_metric.png', 'diffusion_lipschitz.png'):
        assert (out / f).stat().st_size > 5_000, f
    res = json.loads((out / 'diffusion_results.json').read_text())
    assert res['grid'] == [4, 4] and sum(res['label_counts']) == 16
    assert set(res['agreement']) == {'fitted', 'pullback', 'lipschitz'}
    a = np.load(out / 'diffusion_plane.npz')
    assert a['images'].shape == (16, 1, 16, 16) and a['lipschitz'].shape == (16,) and (a['lipschitz'] > 0).all()
    assert str(out / 'diffusion_results.json') in r.stdout
    # the rerun reuses the shards (same images); other settings in the same folder are refused
    r2 = run(*args)
    assert r2.returncode == 0, r2.stderr
    np.testing.assert_array_equal(np.load(out / 'diffusion_plane.npz')['images'], a['images'])
    r3 = run('diffusion', '--n-grid', '4', '--steps', '4', '--out', str(out), '--quiet')
    assert r3.returncode == 2 and 'different settings (steps)' in r3.stderr


def _no_nan(c): raise ValueError(f"results file holds the non-standard JSON constant {c}")


def test_localgeo_tiny_plane(tmp_path):
    r = run('localgeo', '--n-grid', '3', '--steps', '2', '--p', '2', '--fit-steps', '20', '--out', str(tmp_path), '--quiet')
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'localgeo_results.json').read_text(), parse_constant=_no_nan)   # strict JSON
    assert res['P'] == 2 and res['grid'] == [3, 3]
    assert res['spearman']['rank~pullback'] is None     # the thresholded rank is 2 everywhere: no correlation
    assert {'psi~pullback', 'erank~fitted', 'jac_var~pullback'} <= set(res['spearman'])
    m = np.load(tmp_path / 'localgeo_maps.npz')
    assert m['psi'].shape == (9,) and np.isfinite(m['psi']).all() and (m['jac_var'] >= 0).all()
    assert (tmp_path / 'localgeo_maps.png').stat().st_size > 10_000


def test_salad_small_set(tmp_path):
    r = run('salad', '--n-per-cell', '2', '--size', '16', '--out', str(tmp_path), '--quiet')
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'salad_results.json').read_text())
    w = {e['name']: (e['w_category'], e['w_style']) for e in res['embeddings']}
    np.testing.assert_allclose(w['pure category'], (1.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(w['pure style'], (0.0, 1.0), atol=1e-12)
    assert w['colour histogram'][1] > 0.5        # a colour histogram cannot see the digit: style dominates
    assert (tmp_path / 'salad_heatmaps.png').stat().st_size > 10_000 and (tmp_path / 'salad_weights.png').exists()
    assert 'digit encoder' in r.stdout


@pytest.mark.parametrize('args, bad', [(['diffusion', '--n-grid', '2'], '2'), (['diffusion', '--steps', '0'], '0'),
                                       (['localgeo', '--p', '300'], '300'), (['localgeo', '--radius', '-1'], '-1'),
                                       (['salad', '--metric', 'manhattan'], 'manhattan'),
                                       (['salad', '--clip-dir', '/nonexistent/clip'], '/nonexistent/clip'),
                                       (['salad', '--n-per-cell', '0'], '0')])
def test_model_jobs_bad_input_names_the_value(tmp_path, args, bad):
    r = run(*args, '--out', str(tmp_path), '--quiet')
    assert r.returncode == 2, r.stderr
    assert 'error' in r.stderr and bad in r.stderr


def test_geodesic_hyperbolic_matches_closed_form(tmp_path):
    r = run('geodesic', '--system', 'hyperbolic', '--random-pairs', '2', '--seed', '5', '--out', str(tmp_path), '--quiet')
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'geodesic_results.json').read_text(), parse_constant=_no_nan)
    assert len(res['pairs']) == 4 and res['seed'] == 5
    for p in res['pairs']:        # computed lengths against arccosh(1 + |p - q|^2 / (2 y_p y_q))
        assert p['converged'] and p['length_rel_err'] < 1e-5, p
        assert p['line_length'] > p['geodesic_length'] and p['residual'] < 1e-4 < p['line_residual']
    c = np.load(tmp_path / 'geodesic_curves.npz')
    np.testing.assert_allclose(c['exact_geodesic'][:, 0], c['start'], atol=1e-9)
    np.testing.assert_allclose(c['exact_geodesic'][:, -1], c['end'], atol=1e-6)
    assert (tmp_path / 'geodesic_map.png').stat().st_size > 10_000
    assert str(tmp_path / 'geodesic_results.json') in r.stdout


def test_geodesic_exact_tasep_metric(tmp_path):
    r = run('geodesic', '--system', 'tasep', '--size', '6', '--n-grid', '12', '--start', '0.2,0.4', '--end', '0.4,0.2',
            '--out', str(tmp_path), '--quiet')
    assert r.returncode == 0, r.stderr
    p, = json.loads((tmp_path / 'geodesic_results.json').read_text(), parse_constant=_no_nan)['pairs']
    assert p['converged'] and p['endpoint_error'] < 1e-6
    assert p['line_length'] >= p['geodesic_length'] * (1 - 1e-6) and p['max_deviation'] > 1e-3
    assert 'exact_length' not in p      # no closed form for the TASEP metric


@pytest.mark.parametrize('args, bad', [(['--start', '5,0', '--end', '3,0.2'], '[5.0, 0.0]'),
                                       (['--start', 'nan,0', '--end', '3,0.2'], 'nan'),
                                       (['--start', '2,0;3,0', '--end', '3,0.2'], '2,0;3,0'),
                                       (['--system', 'potts'], 'potts'),
                                       (['--system', 'hyperbolic', '--end', '1,-0.5', '--start', '0,1'], '[1.0, -0.5]'),
                                       (['--size', '12'], '12')])
def test_geodesic_bad_input_names_the_value(tmp_path, args, bad):
    r = run('geodesic', *args, '--out', str(tmp_path), '--quiet')
    assert r.returncode == 2, r.stderr
    assert 'error' in r.stderr and bad in r.stderr, r.stderr
    assert not (tmp_path / 'geodesic_results.json').exists()
