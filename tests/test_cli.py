"The `hessgeo` console command, run as a user runs it: a subprocess on the installed entry point."
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from hessgeo.cli import JOBS, field_type, main
from hessgeo.core import folder_lock
from hessgeo.results import load_results

EXE = shutil.which('hessgeo') or None


def command(*args):
    "The command line that runs `hessgeo` with `args`"
    return [EXE, *args] if EXE else [sys.executable, '-c', 'import sys; from hessgeo.cli import main; sys.exit(main())', *args]


def run(*args, cwd=None):
    return subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd, timeout=900)


def test_help_lists_jobs():
    r = run('--help')
    assert r.returncode == 0
    assert 'ising' in r.stdout


def test_ising_thermo_small_grid_writes_results_and_checks_itself(tmp_path):
    r = run('ising-thermo', '--size', '8', '--n-t', '5', '--n-h', '3', '--n-samples', '300', '--burn-in', '200',
            '--out', str(tmp_path / 'out'), '--quiet', '--seed', '3')
    assert r.returncode == 0, r.stderr
    out = tmp_path / 'out'
    assert {p.name for p in out.iterdir()} == {'ising_thermo.png', 'ising_thermo.npz', 'ising_thermo.json', '.hessgeo.lock'}
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
            '--baselines', '--classifim-epochs', '2', '--out', str(out), '--quiet')
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


# Every option of every job, given a bad value, ends with exit code 2 and a message naming the option and the value,
# before any work: the output folder is not even created. The jobs start from a small preset, so that a check that is
# missing shows as a failed test rather than a long run.
BASE = {'ising': 'quick', 'tasep': 'quick', 'ising-thermo': 'quick', 'diffusion': 'quick', 'geodesic': 'hyperbolic',
        'localgeo': 'quick', 'salad': 'quick'}
BAD = {   # job -> (arguments, field named in the message, value named in it); one per option of the job's preset
    'ising': [(['--size', '7'], 'size', '7'), (['--t-min', '-1'], 't_min', '-1'), (['--t-max', 'inf'], 't_max', 'inf'),
              (['--n-t', '2'], 'n_t', '2'), (['--h-min', 'nan'], 'h_min', 'nan'), (['--h-max', '-0.5'], 'h_max', '-0.5'),
              (['--n-h', '1'], 'n_h', '1'), (['--n-samples', '10'], 'n_samples', '10'), (['--n-chains', '0'], 'n_chains', '0'),
              (['--burn-in', '-1'], 'burn_in', '-1'), (['--sweeps-between', '0'], 'sweeps_between', '0'), (['--truth', 'guess'], 'truth', 'guess'),
              (['--truth-samples', '0'], 'truth_samples', '0'), (['--size', '12', '--truth-chains', '1'], 'truth_chains', '1'),
              (['--features', '0'], 'features', '0'), (['--epochs', '0'], 'epochs', '0'), (['--patience', '0'], 'patience', '0'),
              (['--bundle-size', '0'], 'bundle_size', '0'), (['--folds', '0'], 'folds', '0'), (['--fit-steps', '-1'], 'fit_steps', '-1'),
              (['--fit-lbfgs-steps', '-1'], 'fit_lbfgs_steps', '-1'), (['--classifim-epochs', '0'], 'classifim_epochs', '0'),
              (['--wolff-t', 'nan'], 'wolff_t', 'nan'), (['--wolff-h', '-1'], 'wolff_h', '-1'), (['--channels', '0'], 'channels', '0'),
              (['--depth', '-1'], 'depth', '-1'), (['--head-hidden', '0'], 'head_hidden', '0'), (['--lr', '-1'], 'lr', '-1'),
              (['--refine', '0'], 'refine', '0')],
    'tasep': [(['--size', '30'], 'size', '30'), (['--a-min', '-0.5'], 'a_min', '-0.5'), (['--a-max', 'inf'], 'a_max', 'inf'),
              (['--b-min', '0'], 'b_min', '0'), (['--b-max', '0.05'], 'b_max', '0.05'), (['--n-grid', '2'], 'n_grid', '2'),
              (['--n-samples', '4'], 'n_samples', '4'), (['--features', '0'], 'features', '0'), (['--hidden', '0'], 'hidden', '0'),
              (['--epochs', '0'], 'epochs', '0'), (['--patience', '0'], 'patience', '0'), (['--bundle-size', '0'], 'bundle_size', '0'),
              (['--folds', '0'], 'folds', '0'), (['--n-samples', '8', '--folds', '5'], 'n_samples', '8'), (['--fit-steps', '-1'], 'fit_steps', '-1'),
              (['--fit-lbfgs-steps', '-1'], 'fit_lbfgs_steps', '-1'), (['--classifim-epochs', '0'], 'classifim_epochs', '0'),
              (['--lr', '-1'], 'lr', '-1'), (['--refine', '0'], 'refine', '0')],
    'ising-thermo': [(['--size', '7'], 'size', '7'), (['--t-min', '-1'], 't_min', '-1'), (['--t-max', '0.5'], 't_max', '0.5'),
                     (['--n-t', '0'], 'n_t', '0'), (['--h-min', 'nan'], 'h_min', 'nan'), (['--h-max', '-2'], 'h_max', '-2'),
                     (['--n-h', '0'], 'n_h', '0'), (['--n-samples', '10'], 'n_samples', '10'), (['--n-chains', '0'], 'n_chains', '0'),
                     (['--burn-in', '-1'], 'burn_in', '-1'), (['--sweeps-between', '0'], 'sweeps_between', '0')],
    'diffusion': [(['--n-grid', '2'], 'n_grid', '2'), (['--steps', '5000'], 'steps', '5000'), (['--fit-steps', '0'], 'fit_steps', '0'),
                  (['--batch-size', '0'], 'batch_size', '0')],
    'geodesic': [(['--system', 'potts'], 'system', 'potts'), (['--start', '5,0.5;0,1'], 'start', '[5.0, 0.5]'), (['--end', 'x'], 'end', "'x'"),
                 (['--random-pairs', '-1'], 'random_pairs', '-1'), (['--system', 'ising', '--size', '12'], 'size', '12'),
                 (['--lo', '1,2;3,4'], 'lo', '1,2;3,4'), (['--hi', 'a'], 'hi', "'a'"), (['--n-grid', '3'], 'n_grid', '3'),
                 (['--n-steps', '4'], 'n_steps', '4')],
    'localgeo': [(['--n-grid', '2'], 'n_grid', '2'), (['--steps', '0'], 'steps', '0'), (['--p', '300'], 'p', '300'),
                 (['--radius', '-1'], 'radius', '-1'), (['--fit-steps', '0'], 'fit_steps', '0'), (['--chunk', '0'], 'chunk', '0')],
    'salad': [(['--n-per-cell', '175'], 'n_per_cell', '175'), (['--size', '7'], 'size', '7'), (['--metric', 'manhattan'], 'metric', 'manhattan'),
              (['--clip-dir', '/nonexistent/clip'], 'clip_dir', '/nonexistent/clip')],
}
COMMON = [(['--seed', '-1'], 'seed', '-1'), (['--device', 'foo'], 'device', "'foo'"), (['--device', 'meta'], 'device', "'meta'"),
          (['--threads', '0'], 'threads', '0'), (['--preset', 'nosuch'], 'preset', "'nosuch'")]
if not torch.cuda.is_available(): COMMON.append((['--device', 'cuda'], 'device', "'cuda' was asked for, but torch sees no CUDA device"))
CASES = [(job, args, name, value) for job, cases in BAD.items() for args, name, value in cases] + [
         (job, args, name, value) for job in JOBS for args, name, value in COMMON]


def test_every_option_has_a_bad_value_case():
    for name, job in JOBS.items():
        cls = type(job.study.PRESETS['default'])
        hints = typing.get_type_hints(cls)
        valued = {f.name for f in dataclasses.fields(cls) if field_type(hints[f.name]) is not bool}   # a bool option has no bad value
        assert valued == {field for _, field, _ in BAD[name]}, (name, valued ^ {field for _, field, _ in BAD[name]})


@pytest.mark.parametrize('job, args, name, value', CASES, ids=[f"{c[0]} {' '.join(c[1])}" for c in CASES])
def test_bad_option_is_named_before_any_work(tmp_path, capsys, job, args, name, value):
    out = tmp_path / 'out'
    code = main([job, '--preset', BASE[job], *args, '--out', str(out), '--quiet'])
    err = capsys.readouterr().err
    assert code == 2, err
    assert name.replace('_', '-') in err or name in err, err
    assert value in err and 'Traceback' not in err, err
    assert not out.exists()


@pytest.mark.parametrize('args, value', [(['ising-thermo', '--size', '1000000000'], '1000000000'),
                                         (['diffusion', '--n-grid', '100000'], '100000'),
                                         (['salad', '--size', '1000000'], '1000000')])
def test_settings_beyond_memory_are_refused_with_the_figures(tmp_path, args, value):
    t0 = time.perf_counter()
    r = run(*args, '--out', str(tmp_path / 'out'), '--quiet')
    assert r.returncode == 2, r.stderr
    assert 'of memory, more than the' in r.stderr and 'available here' in r.stderr and value in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and not (tmp_path / 'out').exists()


def unwritable_folder(tmp_path):
    "A folder this process cannot write to: a read-only folder for a user, a folder of /sys for root (where permissions do not bind)"
    if os.geteuid() != 0:
        ro = tmp_path / 'ro'; ro.mkdir(); ro.chmod(0o500)
        return ro / 'out'
    try: os.mkdir('/sys/hessgeo_probe')
    except OSError: return Path('/sys/hessgeo_out')
    os.rmdir('/sys/hessgeo_probe'); pytest.skip('no folder here refuses root')


def test_output_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    (tmp_path / 'file').write_text('not a folder')
    for out in (tmp_path / 'file', tmp_path / 'file' / 'sub', unwritable_folder(tmp_path)):
        r = run('ising-thermo', '--preset', 'quick', '--out', str(out), '--quiet')
        assert r.returncode == 2, r.stderr
        assert f"output folder {str(out)!r}" in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_a_folder_another_run_writes_into_is_refused_or_waited_for(tmp_path):
    out = tmp_path / 'out'
    args = ('geodesic', '--preset', 'hyperbolic', '--seed', '1', '--out', str(out), '--quiet')
    with folder_lock(out):                        # another run holds the folder
        r = run(*args)
        assert r.returncode == 2 and f"folder {str(out)!r} is in use by another hessgeo run" in r.stderr, r.stderr
        assert sorted(p.name for p in out.iterdir()) == ['.hessgeo.lock']
        waiting = subprocess.Popen(command(*args, '--wait'), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)
        assert waiting.poll() is None, waiting.communicate()   # it waits for the lock
    stdout, stderr = waiting.communicate(timeout=900)
    assert waiting.returncode == 0, stderr
    assert load_results(out / 'geodesic_results.json').seed == 1


def test_results_and_arrays_of_two_runs_do_not_mix(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    for seed, out in ((0, a), (1, b)):
        r = run('geodesic', '--preset', 'hyperbolic', '--seed', str(seed), '--out', str(out), '--quiet')
        assert r.returncode == 0, r.stderr
    res = load_results(a / 'geodesic_results.json')
    assert res.seed == 0 and set(res.files) == {'geodesic_curves.npz'}
    shutil.copy(b / 'geodesic_curves.npz', a / 'geodesic_curves.npz')      # another run's arrays beside the results
    with pytest.raises(ValueError, match='geodesic_curves.npz is not the file written with'): load_results(a / 'geodesic_results.json')
    p = b / 'geodesic_results.json'
    raw = bytearray(p.read_bytes()); raw[len(raw) // 2] ^= 1; p.write_bytes(bytes(raw))   # one flipped bit
    with pytest.raises(ValueError, match=str(p)): load_results(p)


def test_negative_points_are_read_as_values(tmp_path):
    r = run('geodesic', '--lo', '-1,-1', '--out', str(tmp_path / 'x'), '--quiet')           # the Ising box: T = -1 is refused
    assert r.returncode == 2 and 'the lowest temperature must be > 0, got -1.0' in r.stderr, r.stderr
    r = run('geodesic', '--system', 'hyperbolic', '--lo', '-1.5,0.2', '--start', '-1,0.5', '--end', '1,0.5', '--out', str(tmp_path), '--quiet')
    assert r.returncode == 0, r.stderr
    res = load_results(tmp_path / 'geodesic_results.json')
    assert res.summary['pairs'][0]['start'] == [-1.0, 0.5] and res.settings['lo'] == '-1.5,0.2'


def test_pickle_only_clip_weights_are_refused_unless_allowed(tmp_path):
    clip = tmp_path / 'clip'; clip.mkdir()
    (clip / 'config.json').write_text('{"model_type": "clip"}')
    torch.save(torch.nn.Linear(2, 2).state_dict(), clip / 'pytorch_model.bin')   # the pickle-format layout of a checkpoint
    r = run('salad', '--preset', 'quick', '--clip-dir', str(clip), '--out', str(tmp_path / 'out'), '--quiet')
    assert r.returncode == 2 and f'{clip} holds only pickle-format weights' in r.stderr, r.stderr
    assert not (tmp_path / 'out').exists()
    r = run('salad', '--preset', 'quick', '--clip-dir', str(clip), '--allow-pickle', '--out', str(tmp_path / 'out'), '--quiet')
    assert r.returncode == 2 and 'pickle-format' not in r.stderr and 'CLIP not available' in r.stderr, r.stderr   # past the check: not a real CLIP
