"""Faults a hostile user can cause, and what the package does about them.

A small Ising run (4 x 4 lattices on a 4 x 3 grid: SampleBank.generate, then train_posterior with a checkpoint) is
killed with SIGKILL at every file it commits (before and after each rename), resumed, and must end bit for bit where
the uninterrupted run ends: the bank, the weights, the training history and the posterior's outputs. So is a tiny
diffusion plane, shard by shard, and so is the `hessgeo ising` command at several of its commits. Every kind of file these runs write is damaged one byte at a time and must be
refused with an error naming it, and two runs writing into one folder must not mix their files. The counts are
printed at the end.

Killed runs are forked from this process (the numba kernels and torch are loaded once), so each fault costs
fractions of a second; `os.replace`, the one call that commits a file, is wrapped in the child to count the commits
and kill the process at the chosen one.
"""
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from numba.np.ufunc import parallel as numba_parallel

from hessgeo.core import use_threads, FolderLocked, ParamGrid, folder_lock, load_checked_tensors, read_checked_json, write_checked_json
from hessgeo.data import SampleBank, ising_sampler
from hessgeo.results import load_results
from hessgeo.posterior import (CHECKPOINT, LatticeEncoder, PosteriorNet, load_posterior, sample_log_posteriors, save_posterior,
                               seeded_net, train_posterior)

pytestmark = pytest.mark.slow
# numba's OpenMP layer kills a child forked after it ran (GNU OpenMP is not fork-safe); its own work queue is. The
# layer is chosen at the first parallel call, which no test has made when the test modules are collected.
if not numba_parallel._is_initialized: numba.config.THREADING_LAYER = 'workqueue'
FORK = mp.get_context('fork')
COUNTS = dict(faults=0, resumed_identical=0, refused=0, cli=0)

GRID = ParamGrid((1.5, -0.5), (3.5, 0.5), (4, 3), names=('T', 'H'))
SAMPLER = ising_sampler(4, n_chains=4, burn_in=20, sweeps_between=1)
TRAIN = dict(epochs=3, batch_size=32, patience=10, lr=3e-3, val_fraction=0.25, progress=False, device='cpu')


@pytest.fixture(scope='module', autouse=True)
def print_counts(request):
    "After the module's tests: print the counts, past pytest's output capture"
    yield
    with request.config.pluginmanager.getplugin('capturemanager').global_and_fixture_disabled():
        print(f"\nfault injection: {COUNTS['faults']} runs killed, {COUNTS['resumed_identical']} resumed identical to the "
              f"uninterrupted run ({COUNTS['cli']} of them `hessgeo ising` commands), {COUNTS['refused']} damaged files or second writers refused")


def make_net(): return PosteriorNet(LatticeEncoder(features=4, channels=4), GRID)


def pipeline(root:Path):
    "The run under test: a 16-sample bank in three batches of four points, then three checkpointed epochs"
    bank = SampleBank.generate(root / 'bank', GRID, SAMPLER, 16, seed=0, batch_points=4, progress=False)
    net = seeded_net(make_net, 0)
    res = train_posterior(net, bank, checkpoint=root / 'ck', **TRAIN)
    return dict(bank=bank.load().copy(), fingerprint=bank.fingerprint, weights={k: v.clone() for k, v in net.state_dict().items()},
                history=[(h['epoch'], h['train_nll'], h['val_nll']) for h in res.history], best_epoch=res.best_epoch,
                slp=sample_log_posteriors(net, bank))


def same(a:dict, b:dict) -> bool:
    "Bit-for-bit equality of two `pipeline` outcomes"
    return (np.array_equal(a['bank'], b['bank']) and a['fingerprint'] == b['fingerprint'] and a['history'] == b['history']
            and a['best_epoch'] == b['best_epoch'] and torch.equal(a['slp'], b['slp'])
            and a['weights'].keys() == b['weights'].keys() and all(torch.equal(a['weights'][k], b['weights'][k]) for k in a['weights']))


def count_commits(fn, *args):
    "fn(*args) with every `os.replace` counted: (result, number of commits)"
    real, n = os.replace, [0]
    def counting(src, dst): n[0] += 1; real(src, dst)
    os.replace = counting
    try: return fn(*args), n[0]
    finally: os.replace = real


def _killed_child(fn, args, k:int, when:str):
    "Run fn(*args), SIGKILLing this process just before or just after its k-th `os.replace`"
    real, n = os.replace, [0]
    def replace(src, dst):
        n[0] += 1
        if n[0] == k and when == 'before': os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst)
        if n[0] == k and when == 'after': os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    with use_threads(1): fn(*args)   # one thread: GNU OpenMP's pool, which torch may have started here, is not fork-safe


def kill_at(fn, args, k:int, when:str):
    "Fork a child that runs fn(*args) and dies by SIGKILL at its k-th commit; check that it did"
    p = FORK.Process(target=_killed_child, args=(fn, args, k, when), daemon=True)   # daemon: a hung child cannot hold pytest at exit
    p.start(); p.join(300)
    if p.is_alive(): p.kill(); p.join(); raise AssertionError(f"the child to be killed at commit {k} ({when}) hung for 300 s")
    assert p.exitcode == -signal.SIGKILL, f"the child was to be killed at commit {k} ({when}), exit code {p.exitcode}"
    COUNTS['faults'] += 1


def temporaries(root:Path) -> list:
    return [p for p in root.rglob('*') if '.tmp' in p.name]


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp('reference')
    out, n = count_commits(pipeline, root)
    assert numba.threading_layer() == 'workqueue', f"numba runs its {numba.threading_layer()!r} layer: killed runs cannot be forked"
    assert n == 3 * (4 + 1) + 3, n   # per batch: four point files and the manifest; one checkpoint per epoch
    return out, n


def test_killed_at_every_commit_resumes_identically(reference, tmp_path):
    ref, n = reference
    for k in range(1, n + 1):
        for when in ('before', 'after'):
            root = tmp_path / f'{k}{when}'
            kill_at(pipeline, (root,), k, when)
            if (root / 'bank' / 'manifest.json').exists(): SampleBank(root / 'bank')   # what the kill left opens cleanly
            got = pipeline(root)
            assert same(got, ref), f"killed {when} commit {k}: the resumed run differs from the uninterrupted one"
            assert not temporaries(root), temporaries(root)   # the dead writer's temporaries were cleaned under the lock
            COUNTS['resumed_identical'] += 1
            shutil.rmtree(root)


def test_resume_does_not_depend_on_how_the_folder_is_named(reference, tmp_path):
    ref, n = reference
    kill_at(pipeline, (tmp_path / 'run',), n - 1, 'before')   # in the second epoch
    (tmp_path / 'run').rename(tmp_path / 'renamed')
    cwd = os.getcwd(); os.chdir(tmp_path)
    try: got = pipeline(Path('renamed'))   # a relative path to the moved folder
    finally: os.chdir(cwd)
    assert same(got, ref)
    assert load_checked_tensors(tmp_path / 'renamed' / 'ck' / CHECKPOINT)[1]['epoch'] == 3
    COUNTS['resumed_identical'] += 1


def diffusion_run(out:Path):
    from hessgeo.diffusion import LatentPlane, load_default_model, sample_plane
    plane = LatentPlane.from_seeds(0, (1, 16, 16))
    return sample_plane(load_default_model('cpu'), plane, plane.grid((2, 2)), out, shard_size=1, steps=2, batch_size=1, device='cpu', progress=False)


def test_killed_diffusion_plane_resumes_identically(tmp_path):
    ref, n = count_commits(diffusion_run, tmp_path / 'ref')
    assert n == 1 + 4, n   # the manifest with the first shard, then one file per shard
    for k in range(1, n + 1):
        for when in ('before', 'after'):
            out = tmp_path / f'{k}{when}'
            kill_at(diffusion_run, (out,), k, when)
            assert torch.equal(diffusion_run(out), ref), f"killed {when} commit {k}"
            assert not temporaries(out)
            COUNTS['resumed_identical'] += 1


def refused(fn, name:str):
    "fn() must raise ValueError naming the file `name`"
    with pytest.raises(ValueError) as e: fn()
    assert name in str(e.value), str(e.value)
    COUNTS['refused'] += 1


def flipped(path:Path, pos:int) -> bytes:
    "Flip the lowest bit of byte `pos` of `path`; return the file's bytes before"
    raw = path.read_bytes()
    bad = bytearray(raw); bad[pos] ^= 0x01
    path.write_bytes(bytes(bad))
    return raw


def every_byte(path:Path, load):
    "Flip each byte of `path` in turn: `load(path)` must refuse every one of them, naming the file"
    for pos in range(path.stat().st_size):
        raw = flipped(path, pos)
        refused(lambda: load(path), path.name)
        path.write_bytes(raw)
    load(path)   # intact again


def test_every_damaged_byte_is_refused(reference, tmp_path):
    root = tmp_path / 'run'
    pipeline(root)
    bank, ck = root / 'bank', root / 'ck' / CHECKPOINT
    every_byte(bank / 'manifest.json', lambda p: SampleBank(p.parent))
    every_byte(bank / 'points' / '000005.npy', lambda p: SampleBank(bank)[5])
    every_byte(ck, lambda p: load_checked_tensors(p, what='checkpoint'))
    saved = save_posterior(seeded_net(make_net, 0), tmp_path / 'net.safetensors')
    every_byte(saved, lambda p: load_posterior(make_net(), p))
    # and through the API: refused before any training, the damaged file named
    for path in (bank / 'manifest.json', bank / 'points' / '000005.npy', ck):
        raw = flipped(path, path.stat().st_size // 2)
        refused(lambda: pipeline(root), str(path))
        path.write_bytes(raw)
    raw = flipped(ck, 3)   # the header's length
    refused(lambda: pipeline(root), str(ck))
    ck.write_bytes(raw)


def test_every_damaged_diffusion_byte_is_refused(tmp_path):
    out = tmp_path / 'plane'
    diffusion_run(out)
    every_byte(out / 'manifest.json', lambda p: read_checked_json(p, what='plane manifest'))
    every_byte(out / 'shard_00002.safetensors', lambda p: load_checked_tensors(p, what='plane shard'))
    for name in ('manifest.json', 'shard_00002.safetensors'):
        raw = flipped(out / name, 40)
        refused(lambda: diffusion_run(out), name)
        (out / name).write_bytes(raw)
    shutil.copy(out / 'shard_00003.safetensors', out / 'shard_00002.safetensors')   # a shard in another's slot
    refused(lambda: diffusion_run(out), 'shard_00002.safetensors')


def _hold(fn, args, started, release, errors):
    try:
        with use_threads(1): fn(*args, started=started, release=release)   # one thread: forked (see _killed_child)
    except Exception as e: errors.put(repr(e))


def generate_holding(root, seed, started=None, release=None):
    "SampleBank.generate whose sampler, after its first batch, signals `started` and waits for `release`"
    calls = []
    def sampler(points, n, s):
        if calls and started is not None: started.set(); release.wait(60)
        calls.append(1); return SAMPLER(points, n, s)
    sampler.settings = SAMPLER.settings
    return SampleBank.generate(root, GRID, sampler, 16, seed=seed, batch_points=4, progress=False)


def train_holding(root, lr, started=None, release=None):
    "train_posterior whose first epoch's callback signals `started` and waits for `release`"
    def callback(epoch, history):
        if epoch == 1 and started is not None: started.set(); release.wait(60)
    bank = SampleBank(root / 'bank')
    return train_posterior(seeded_net(make_net, 0), bank, checkpoint=root / 'ck', callback=callback, **{**TRAIN, 'lr': lr})


def test_two_writers_do_not_mix(reference, tmp_path):
    ref, _ = reference
    started, release, errors = FORK.Event(), FORK.Event(), FORK.Queue()
    a = FORK.Process(target=_hold, args=(generate_holding, (tmp_path / 'run' / 'bank', 0), started, release, errors), daemon=True)
    a.start(); assert started.wait(60)
    with pytest.raises(FolderLocked, match=re.escape(str(tmp_path / 'run' / 'bank'))):   # a second bank, other seed, same folder
        generate_holding(tmp_path / 'run' / 'bank', 1)
    release.set(); a.join(); assert a.exitcode == 0 and errors.empty()
    assert np.array_equal(SampleBank(tmp_path / 'run' / 'bank').load(), ref['bank'])   # the first writer's samples only

    started, release = FORK.Event(), FORK.Event()
    a = FORK.Process(target=_hold, args=(train_holding, (tmp_path / 'run', TRAIN['lr']), started, release, errors), daemon=True)
    a.start(); assert started.wait(60)
    with pytest.raises(FolderLocked, match=re.escape(str(tmp_path / 'run' / 'ck'))):   # a second training, other lr, same checkpoint
        train_holding(tmp_path / 'run', 1e-2)
    release.set(); a.join(); assert a.exitcode == 0 and errors.empty()
    assert same(pipeline(tmp_path / 'run'), ref)   # the checkpoint is the first run's: resuming it ends where it would
    COUNTS['refused'] += 2


def test_bad_input_is_named_before_any_work(tmp_path):
    calls = []
    def sampler(points, n, seed): calls.append(1); return SAMPLER(points, n, seed)
    with pytest.raises(ValueError, match='grid must be a ParamGrid, got None'): SampleBank.generate(tmp_path / 'b', None, sampler, 16)
    with pytest.raises(ValueError, match='n_samples must be >= 1, got 0'): SampleBank.generate(tmp_path / 'b', GRID, sampler, 0)
    assert not calls and not (tmp_path / 'b').exists()
    objects = lambda p, n, s: np.array([[object()] * n] * len(p))
    with pytest.raises(ValueError, match='dtype object'): SampleBank.generate(tmp_path / 'o', GRID, objects, 4, progress=False)
    assert not list((tmp_path / 'o' / 'points').iterdir()) and not (tmp_path / 'o' / 'manifest.json').exists()   # nothing pickled
    bank = SampleBank.generate(tmp_path / 'b', GRID, SAMPLER, 16, batch_points=4, progress=False)
    with pytest.raises(ValueError, match='points holds the index 99, outside 0..11'): bank.bundles(2, 4, points=[99])
    forged = read_checked_json(tmp_path / 'b' / 'manifest.json')
    (tmp_path / 'outside.npy').write_bytes((tmp_path / 'b' / 'points' / '000000.npy').read_bytes())
    forged['points']['0']['file'] = '../outside.npy'
    write_checked_json(tmp_path / 'b' / 'manifest.json', forged)   # a consistent manifest that points out of the bank
    with pytest.raises(ValueError, match=r"names the file '../outside.npy' for grid point 0"): SampleBank(tmp_path / 'b').load()
    with pytest.raises(ValueError, match='bank must be a SampleBank'): train_posterior(make_net(), str(tmp_path / 'b'))


# The command line, killed as a user's run is killed: `hessgeo ising` in a process of its own, SIGKILLed at chosen
# file commits (counted by wrapping `os.replace`, the one call that commits a file, before the command starts; only
# commits into the run's output folder count, not caches of numba or matplotlib), then rerun with the same command.
# Its results must be those of the uninterrupted run: every key, text and integer, and every number to 1e-12 (two
# uninterrupted runs already differ in the last bits of a few least-squares scores: LAPACK's results depend on how
# the arrays happen to be aligned in memory).
CLI_CHILD = '''
import os, signal, sys
out, k, when, done = os.path.realpath(os.environ['FAULT_OUT']), int(os.environ.get('FAULT_AT', '0')), os.environ.get('FAULT_WHEN'), []
real = os.replace
def replace(src, dst):
    mine = os.path.realpath(dst).startswith(out + os.sep)
    if mine: done.append(os.path.relpath(os.path.realpath(dst), out))
    if mine and len(done) == k and when == 'before': os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    if mine and len(done) == k and when == 'after': os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
from hessgeo.cli import main
code = main(sys.argv[1:])
print('commits:', *done, file=sys.stderr)
sys.exit(code)
'''
CLI_ARGS = ['ising', '--preset', 'quick', '--no-baselines', '--fit-steps', '60', '--fit-lbfgs-steps', '30', '--threads', '1', '--quiet']


def hessgeo_killed(out:Path, at:int=0, when:str='before'):
    "Run `hessgeo ising` into `out` in a subprocess that SIGKILLs itself before or after its `at`-th commit into `out` (0: never)"
    env = {**os.environ, 'FAULT_OUT': str(out), 'FAULT_AT': str(at), 'FAULT_WHEN': when}
    return subprocess.run([sys.executable, '-c', CLI_CHILD, *CLI_ARGS, '--out', str(out)], env=env, capture_output=True, text=True, timeout=900)


def numbers(d):
    "A results file's content without what may differ between equal runs: timings and the file's own checksum"
    if isinstance(d, dict): return {k: numbers(v) for k, v in d.items() if k not in ('seconds', 'checksum')}
    if isinstance(d, list): return [numbers(v) for v in d]
    return d


def same_numbers(a, b, path='') -> str|None:
    "Where `a` and `b` differ (None if nowhere): keys, texts and integers exactly, floats to 1e-12 relative"
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys(): return f"{path}: keys {sorted(a.keys() ^ b.keys())}"
        return next((w for k in a if (w := same_numbers(a[k], b[k], f'{path}.{k}'))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b): return f"{path}: lengths {len(a)} and {len(b)}"
        return next((w for i, (u, v) in enumerate(zip(a, b)) if (w := same_numbers(u, v, f'{path}[{i}]'))), None)
    if isinstance(a, float) and isinstance(b, float): return None if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) else f"{path}: {a!r} and {b!r}"
    return None if a == b and type(a) is type(b) else f"{path}: {a!r} and {b!r}"


def results_numbers(out:Path):
    "The numbers of the run's results file, after `load_results` has checked every byte of it"
    load_results(out / 'ising_results.json')
    return numbers(json.loads((out / 'ising_results.json').read_text()))


def test_killed_command_resumes_to_the_same_results(tmp_path):
    ref = hessgeo_killed(tmp_path / 'ref')
    assert ref.returncode == 0, ref.stderr[-3000:]
    commits = ref.stderr.split('commits:')[-1].split()
    expected = results_numbers(tmp_path / 'ref')
    first = lambda part: 1 + next(i for i, c in enumerate(commits) if part in c)
    manifest = first('ising_samples/manifest.json')                                 # the first batch of grid points is committed
    plan = [(first('ising_samples'), 'before'), (manifest, 'after'), (manifest + 2, 'before'),   # sampling: a point file, the manifest
            (first('ising_posterior_checkpoint'), 'after'),                                     # the first epoch's checkpoint
            (len(commits), 'before')]                                                           # the results file
    for k, when in plan:
        out = tmp_path / f'{k}{when}'
        killed = hessgeo_killed(out, k, when)
        assert killed.returncode == -signal.SIGKILL, f"the run was to be killed at commit {k} ({when}), exit code {killed.returncode}: {killed.stderr[-2000:]}"
        COUNTS['faults'] += 1
        resumed = hessgeo_killed(out)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        where = same_numbers(results_numbers(out), expected)
        assert where is None, f"killed {when} commit {k} ({commits[k - 1]}) of {len(commits)}: the results differ at {where}"
        assert not temporaries(out), temporaries(out)
        COUNTS['resumed_identical'] += 1; COUNTS['cli'] += 1
