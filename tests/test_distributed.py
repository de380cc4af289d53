"Two CPU processes under `accelerate launch`: SampleBank.generate splits its batches and equals a one-process bank file for file (also after an interrupted run), another run's part is refused, train_posterior trains data-parallel to the one-process held-out NLL, resumable across process counts, and the diffusion, thermodynamics and local-geometry jobs spread their points."
import json, os, shutil, socket, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hessgeo.core import ParamGrid, read_checked_json
from hessgeo.data import SampleBank
from hessgeo.posterior import PosteriorNet, VectorEncoder, evaluate_posterior, load_posterior, seeded_net, train_posterior

pytestmark = pytest.mark.slow

# The script every process runs: `bank` generates the toy bank (process 1 fails after its first batch with `fail`),
# `train` trains on the Gaussian bank uninterrupted, interrupted and resumed, and interrupted only.
SCRIPT = '''
import json, os, sys
from pathlib import Path
import numpy as np, torch
from hessgeo.core import ParamGrid
from hessgeo.data import SampleBank, processes
from hessgeo.posterior import PosteriorNet, VectorEncoder, save_posterior, seeded_net, train_posterior

GRID = ParamGrid((-2.0, -2.0), (2.0, 2.0), (5, 4))

def toy(points, n, seed):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(points[:, 0] - points[:, 1])))
    return (rng.random((len(points), n, 12)) < p[:, None, None]).astype(np.uint8)
toy.settings = dict(sampler='toy')

def bank(out, seed, fail):
    procs = processes()
    if fail == 'apart':   # every process in a folder of its own, under the same relative name: not one shared folder
        Path(out, f'p{procs.index}').mkdir(parents=True)
        os.chdir(Path(out, f'p{procs.index}'))
        out, fail = 'bank', False
    done = []
    def logged(points, n, s):
        if fail is True and procs.index == 1 and done: raise RuntimeError('process 1 stops here')
        done.append(len(points))
        with open(Path(out).parent / f'calls_{procs.index}.txt', 'a') as f: f.write(json.dumps(points.tolist()) + '\\n')
        return toy(points, n, s)
    logged.settings = toy.settings
    SampleBank.generate(out, GRID, logged, 64, seed=seed, batch_points=3, progress=False)

def train(folder):
    procs, folder = processes(), Path(folder)
    bank = SampleBank(folder / 'gauss')
    make = lambda: PosteriorNet(VectorEncoder(2, features=4, hidden=16), bank.grid)
    kw = dict(epochs=4, batch_size=128, lr=1e-2, patience=10, progress=False)
    def crash(epoch, history):
        if epoch == 2: raise RuntimeError('interrupted')
    out = {}
    for name, callback in (('full', None), ('cut', crash), ('cut', None), ('left', crash)):
        net = seeded_net(make, 0)
        try: r = train_posterior(net, bank, checkpoint=folder / f'ck_{name}', callback=callback, **kw)
        except RuntimeError: continue
        out[name] = dict(history=[h['val_nll'] for h in r.history], best=r.best_val_nll, best_epoch=r.best_epoch)
        if procs.is_main: save_posterior(net, folder / f'net_{name}.safetensors')
    if procs.is_main: (folder / 'train.json').write_text(json.dumps(dict(out, processes=procs.count)))

if __name__ == '__main__':
    if sys.argv[1] == 'bank': bank(sys.argv[2], int(sys.argv[3]), {'ok': False, 'fail': True}.get(sys.argv[4], sys.argv[4]))
    else: train(sys.argv[2])
'''

GRID = ParamGrid((-2.0, -2.0), (2.0, 2.0), (5, 4))

def toy(points, n, seed):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(points[:, 0] - points[:, 1])))
    return (rng.random((len(points), n, 12)) < p[:, None, None]).astype(np.uint8)
toy.settings = dict(sampler='toy')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def launch(tmp_path, *args):
    "Run SCRIPT in two CPU processes with `accelerate launch` (torchrun underneath, gloo between the processes)"
    script = tmp_path / 'job.py'
    script.write_text(SCRIPT)
    env = {**os.environ, 'CUDA_VISIBLE_DEVICES': ''}
    cmd = ['accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(free_port()), str(script), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def calls(folder) -> dict:
    "Grid points each process sampled, from the files its sampler appended to"
    out = {}
    for k in (0, 1):
        f = Path(folder) / f'calls_{k}.txt'
        batches = [np.array(json.loads(l)) for l in f.read_text().splitlines()] if f.exists() else []
        out[k] = [[int(np.argmin(((GRID.points - p) ** 2).sum(1))) for p in b] for b in batches]
    return out


def same_bank(a:Path, b:Path):
    "The two banks hold the same files, byte for byte, and the same manifest but for its creation time"
    ma, mb = (read_checked_json(p / 'manifest.json') for p in (a, b))
    ma.pop('created'); mb.pop('created')
    assert ma == mb
    for i in range(GRID.n): assert (a / 'points' / f'{i:06d}.npy').read_bytes() == (b / 'points' / f'{i:06d}.npy').read_bytes(), i
    assert SampleBank(a).fingerprint == SampleBank(b).fingerprint
    assert not (a / 'parts').exists()


def test_bank_two_processes_equals_one(tmp_path):
    one = SampleBank.generate(tmp_path / 'one', GRID, toy, 64, seed=1, batch_points=3, progress=False)
    r = launch(tmp_path, 'bank', tmp_path / 'run' / 'two', 1, 'ok')
    assert r.returncode == 0, r.stderr[-3000:]
    same_bank(tmp_path / 'run' / 'two', tmp_path / 'one')
    c = calls(tmp_path / 'run')
    assert c[0] and c[1], c                               # both processes sampled
    flat = sorted(sum(c[0], []) + sum(c[1], []))
    assert flat == list(range(GRID.n)), c                 # every point once, by one process
    assert one.complete


def test_bank_interrupted_resumed_and_foreign_part(tmp_path):
    run = tmp_path / 'run'
    r = launch(tmp_path, 'bank', run / 'bank', 1, 'fail')
    assert r.returncode != 0 and 'process 1 stops here' in r.stderr, r.stderr[-3000:]
    assert r.stderr.count('process 1 stops here') >= 2, r.stderr[-3000:]   # raised in both processes
    kept = {int(i) for k in ('00000', '00001') for i in read_checked_json(run / 'bank' / 'parts' / k / 'part.json')['points']}
    assert SampleBank(run / 'bank').done == [0, 1, 2]                     # the main process's first batch
    assert kept == {3, 4, 5, 9, 10, 11, 15, 16, 17} | {6, 7, 8}, kept   # process 0's share, and process 1's first batch
    # parts of this seed-1 run beside a seed-2 bank: refused in every process, naming the part, nothing moved
    other = SampleBank.generate(tmp_path / 'seed2' / 'bank', GRID, toy, 64, seed=2, batch_points=3, progress=False).root
    shutil.copytree(run / 'bank' / 'parts', other / 'parts')
    r = launch(tmp_path, 'bank', other, 2, 'ok')
    part_file = other / 'parts' / '00000' / 'part.json'
    assert r.returncode != 0 and f'SampleBank part {part_file} was made with different seed' in r.stderr, r.stderr[-3000:]
    assert r.stderr.count('was made with different seed') >= 2, r.stderr[-3000:]   # raised in both processes, none left waiting
    assert calls(other.parent) == {0: [], 1: []}                          # refused before any sampling
    (run / 'calls_0.txt').unlink(); (run / 'calls_1.txt').unlink()
    assert SampleBank(other).done == list(range(GRID.n)) and part_file.exists()
    # the interrupted seed-1 run resumed: the part is taken in, only the missing points are sampled
    r = launch(tmp_path, 'bank', run / 'bank', 1, 'ok')
    assert r.returncode == 0, r.stderr[-3000:]
    c = calls(run)
    resampled = set(sum(c[0], []) + sum(c[1], []))
    assert resampled == {12, 13, 14, 18, 19}, resampled                 # only process 1's batches it had not finished
    SampleBank.generate(tmp_path / 'one', GRID, toy, 64, seed=1, batch_points=3, progress=False)
    same_bank(run / 'bank', tmp_path / 'one')


def gauss(points, n, seed):
    g = np.random.default_rng(seed)
    return (points[:, None, :] + 0.5 * g.standard_normal((len(points), n, 2))).astype(np.float32)
gauss.settings = dict(sampler='gaussian location', s=0.5)


def test_train_two_processes(tmp_path):
    bank = SampleBank.generate(tmp_path / 'gauss', ParamGrid((-1.0, -1.0), (1.0, 1.0), (6, 6)), gauss, 64, seed=0, progress=False)
    r = launch(tmp_path, 'train', tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    two = json.loads((tmp_path / 'train.json').read_text())
    assert two['processes'] == 2 and set(two) == {'full', 'cut', 'processes'}
    assert two['cut'] == two['full']                       # interrupted after epoch 2 and resumed: the same run, exactly
    a, b = (load_posterior(PosteriorNet(VectorEncoder(2, features=4, hidden=16), bank.grid), tmp_path / f'net_{k}.safetensors') for k in ('full', 'cut'))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    make = lambda: PosteriorNet(VectorEncoder(2, features=4, hidden=16), bank.grid)
    kw = dict(epochs=4, batch_size=128, lr=1e-2, patience=10, progress=False, device='cpu')
    net1 = seeded_net(make, 0)
    one = train_posterior(net1, bank, **kw)
    ev1 = evaluate_posterior(net1, bank, sample_idx=one.val_idx, n_bundles=4000)
    ev2 = evaluate_posterior(a, bank, sample_idx=one.val_idx, n_bundles=4000)
    print(f"held-out NLL per epoch, 1 process {[h['val_nll'] for h in one.history]}, 2 processes {two['full']['history']}; "
          f"evaluated on 4000 held-out bundles: {ev1.nll!r} vs {ev2.nll!r}")
    assert abs(one.best_val_nll - two['full']['best']) < 0.02
    np.testing.assert_allclose(two['full']['history'], [h['val_nll'] for h in one.history], atol=1e-3)   # the same steps, up to float sums
    assert abs(ev1.nll - ev2.nll) < 0.02
    # the 2-process checkpoint left after epoch 2 resumes in one process, to the same NLL
    net_l = seeded_net(make, 0)
    left = train_posterior(net_l, bank, checkpoint=tmp_path / 'ck_left', **kw)
    assert [h['epoch'] for h in left.history] == [1, 2, 3, 4]
    assert abs(left.best_val_nll - two['full']['best']) < 0.02


def test_bank_folder_not_shared(tmp_path):
    # both processes name 'bank', but each from a folder of its own: the second does not see the main process's token
    r = launch(tmp_path, 'bank', tmp_path / 'apart', 1, 'apart')
    assert r.returncode != 0, r.stderr[-3000:]
    assert r.stderr.count('does not see the file bank/.hessgeo.run the main process just wrote') >= 2, r.stderr[-3000:]
    assert not (tmp_path / 'apart' / 'p1' / 'bank' / 'parts').exists()


def test_diffusion_job_under_launch_equals_one_process(tmp_path):
    "`hessgeo diffusion` started by `accelerate launch` in two processes (three shards between them) writes the plain run's arrays"
    args = ['diffusion', '--n-grid', '24', '--steps', '4', '--fit-steps', '40', '--no-lipschitz', '--batch-size', '64', '--quiet']
    cmd = ['accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(free_port()), '-m', 'hessgeo.cli', *args, '--out', str(tmp_path / 'two')]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'CUDA_VISIBLE_DEVICES': ''}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(list((tmp_path / 'two' / 'diffusion_work' / 'plane').glob('shard_*.safetensors'))) == 3
    one = subprocess.run([sys.executable, '-m', 'hessgeo.cli', *args, '--out', str(tmp_path / 'one')], capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = np.load(tmp_path / 'one' / 'diffusion_plane.npz'), np.load(tmp_path / 'two' / 'diffusion_plane.npz')
    assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)


def launch_cli(tmp_path, out:str, *args):
    "Run `python -m hessgeo.cli *args --out tmp_path/out` in two CPU processes with `accelerate launch`"
    cmd = ['accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(free_port()), '-m', 'hessgeo.cli', *args, '--out', str(tmp_path / out)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'CUDA_VISIBLE_DEVICES': ''}, timeout=600)


def test_thermo_job_under_launch_spreads_points(tmp_path):
    "`hessgeo ising-thermo` in two processes: each samples its half of the grid with its own streams; joined in order they match the exact values"
    r = launch_cli(tmp_path, 'two', 'ising-thermo', '--preset', 'quick', '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    two = read_checked_json(tmp_path / 'two' / 'ising_thermo.json')
    one = subprocess.run([sys.executable, '-m', 'hessgeo.cli', 'ising-thermo', '--preset', 'quick', '--quiet', '--out', str(tmp_path / 'one')],
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = np.load(tmp_path / 'one' / 'ising_thermo.npz'), np.load(tmp_path / 'two' / 'ising_thermo.npz')
    assert (two['processes'], two['points']) == (2, 15) and read_checked_json(tmp_path / 'one' / 'ising_thermo.json')['processes'] == 1
    np.testing.assert_array_equal(a['T'], b['T']); np.testing.assert_array_equal(a['H'], b['H'])
    for k in ('energy', 'abs_mag', 'heat_capacity', 'susceptibility'):
        assert not np.array_equal(a[k], b[k]), k   # other streams, so other samples ...
        # ... of the same distribution: 15 z-scores against the exact values each (|z| < 4.5 fails a correct run with p ~ 1e-4)
        assert np.abs(b[k + '_z']).max() < 4.5, (k, b[k + '_z'])
        z = (a[k] - b[k]) / np.hypot(a[k + '_err'], b[k + '_err'])
        assert np.abs(z).max() < 4.5, (k, z)


def test_localgeo_job_under_launch_equals_one_process(tmp_path):
    "`hessgeo localgeo` in two processes (each its half of the plane's points) writes the one-process maps, to float32 rounding"
    r = launch_cli(tmp_path, 'two', 'localgeo', '--preset', 'quick', '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    one = subprocess.run([sys.executable, '-m', 'hessgeo.cli', 'localgeo', '--preset', 'quick', '--quiet', '--out', str(tmp_path / 'one')],
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = np.load(tmp_path / 'one' / 'localgeo_maps.npz'), np.load(tmp_path / 'two' / 'localgeo_maps.npz')
    assert a.files == b.files
    for k in a.files:
        if a[k].dtype.kind in 'iub': np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else: np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)   # batches of other sizes round float32 otherwise


def test_thermo_job_refuses_more_processes_than_points(tmp_path):
    "A launch with more processes than grid points stops before sampling, naming both counts"
    r = launch_cli(tmp_path, 'few', 'ising-thermo', '--preset', 'quick', '--n-t', '1', '--n-h', '1', '--quiet')
    assert r.returncode != 0
    assert 'the launch has 2 processes for 1 grid points: start at most 1' in r.stderr, r.stderr[-3000:]
