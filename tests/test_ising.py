"Fast tests of hessgeo.ising: shapes and statistics, determinism, bad input, agreement of the engines"
import numpy as np
import pytest
import torch

from hessgeo.core import mean_and_error, use_threads
from hessgeo.ising import IsingSamples, lattice_stats, pack_spins, sample_ising, unpack_spins

ENGINES = {'multispin': dict(backend='numba'), 'scalar': dict(backend='numba', multispin=False),
           'wolff': dict(backend='numba', cluster='wolff'), 'torch': dict(backend='torch', device='cpu')}


@pytest.mark.parametrize('engine', list(ENGINES))
def test_shapes_and_statistics(engine):
    r = sample_ising([2.0, 2.5, 3.0], [0.0, 0.1, -0.2], 6, 30, n_chains=8, burn_in=10, progress=False, **ENGINES[engine])
    assert isinstance(r, IsingSamples)
    assert r.spins.shape == (3, 8, 30, 6, 6) and r.spins.dtype == np.int8
    assert r.bonds.shape == r.mag.shape == (3, 8, 30)
    assert set(np.unique(r.spins).tolist()) <= {-1, 1}
    b, m = lattice_stats(r.spins)
    np.testing.assert_array_equal(b, r.bonds)
    np.testing.assert_array_equal(m, r.mag)
    np.testing.assert_allclose(r.energy, -(r.bonds + r.H[:, None, None] * r.mag) / 36)
    np.testing.assert_allclose(r.abs_m, np.abs(r.mag) / 36)
    np.testing.assert_array_equal(unpack_spins(r.pack(), 6), r.spins)


def test_packed_and_statistics_only():
    kw = dict(T=2.3, H=0.0, L=8, n_samples=12, n_chains=20, burn_in=5, seed=3, progress=False)
    full = sample_ising(**kw)
    packed = sample_ising(keep_spins='packed', **kw)
    none = sample_ising(keep_spins=False, **kw)
    assert packed.spins is None and packed.packed.shape == (1, 20, 12, 8)
    np.testing.assert_array_equal(packed.unpack(), full.spins)
    np.testing.assert_array_equal(packed.pack(), pack_spins(full.spins))
    assert none.spins is None and none.packed is None
    np.testing.assert_array_equal(none.bonds, full.bonds)
    with pytest.raises(ValueError, match='no lattices were kept'): none.unpack()


@pytest.mark.parametrize('engine', list(ENGINES))
def test_same_seed_same_samples_any_thread_count(engine):
    kw = dict(T=[2.2, 2.6], H=[0.0, 0.05], L=8, n_samples=15, n_chains=10, burn_in=20, progress=False, **ENGINES[engine])
    with use_threads(2): a = sample_ising(seed=5, **kw)
    with use_threads(1): b = sample_ising(seed=5, **kw)
    np.testing.assert_array_equal(a.spins, b.spins)
    np.testing.assert_array_equal(a.bonds, b.bonds)
    assert (sample_ising(seed=6, **kw).spins != a.spins).any()


@pytest.mark.parametrize('L, P', [(16, 200), (256, 64)])
def test_multispin_drivers_thread_independent(L, P):
    # several groups (threads over groups) and one group of huge lattices (threads over rows): 1 thread, same chain
    kw = dict(T=np.linspace(1.8, 3.0, P), H=0.05, L=L, n_samples=2, burn_in=3, seed=1, progress=False)
    with use_threads(2): a = sample_ising(**kw)
    with use_threads(1): b = sample_ising(**kw)
    assert a.info['engine'] == 'numba:multispin'
    np.testing.assert_array_equal(a.spins, b.spins)


@pytest.mark.parametrize('bad, msg', [
    (dict(T=0.0), 'T must be > 0, got 0.0'),
    (dict(T=[2.0, -1.0]), 'T must be > 0, got -1.0'),
    (dict(T=float('nan')), 'T must be finite, got nan'),
    (dict(H=float('inf')), 'H must be finite, got inf'),
    (dict(L=7), 'L must be even'),
    (dict(L=2), 'L must be >= 4, got 2'),
    (dict(L=8.5), 'L must be an integer, got 8.5'),
    (dict(n_samples=2.5), 'n_samples must be an integer, got 2.5'),
    (dict(n_samples=-1), 'n_samples must be >= 0, got -1'),
    (dict(n_chains=0), 'n_chains must be >= 1, got 0'),
    (dict(n_chains=1.5), 'n_chains must be an integer, got 1.5'),
    (dict(burn_in=-5), 'burn_in must be >= 0, got -5'),
    (dict(sweeps_between=0), 'sweeps_between must be >= 1, got 0'),
    (dict(T=[2.0, 2.5, 3.0], H=[0.0, 0.1]), 'len(T)=3 and len(H)=2'),
    (dict(backend='jax'), "backend must be 'auto', 'numba' or 'torch', got 'jax'"),
    (dict(cluster='sw'), "cluster must be None or 'wolff', got 'sw'"),
    (dict(cluster='wolff', backend='torch'), "only implemented for backend='numba'"),
    (dict(cluster_updates=0, cluster='wolff'), 'cluster_updates must be >= 1, got 0'),
    (dict(keep_spins='yes'), "keep_spins must be True, False or 'packed', got 'yes'"),
])
def test_bad_input(bad, msg):
    kw = dict(T=2.0, H=0.0, L=8, n_samples=4, progress=False) | bad
    with pytest.raises(ValueError) as e: sample_ising(**kw)
    assert msg in str(e.value)


def test_device_rule():
    # the engine follows core.resolve_device: the CPU gets the numba engines; device names are checked before any work
    r = sample_ising(2.3, 0.0, 8, 2, n_chains=16, burn_in=1, device='cpu', progress=False)
    assert r.info['engine'] == 'numba:multispin'
    with pytest.raises(ValueError, match="'meta'"): sample_ising(2.3, 0.0, 8, 2, device='meta', progress=False)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="backend='numba' runs on the CPU"):
            sample_ising(2.3, 0.0, 8, 2, backend='numba', device='cuda', progress=False)
        assert sample_ising(2.3, 0.0, 8, 2, progress=False).info['engine'] == 'torch:cuda'
    else:
        with pytest.raises(ValueError, match="'cuda'"): sample_ising(2.3, 0.0, 8, 2, device='cuda', progress=False)


def test_wolff_mean_cluster_size_is_over_the_recorded_sweeps():
    r = sample_ising([2.0, 2.27], [0.0, 0.02], 8, 10, n_chains=4, burn_in=200, cluster='wolff', seed=1, progress=False)
    assert (r.info['mean_cluster_size'] <= 64).all()   # a cluster never holds more than the N = 64 sites


def test_engines_agree_statistically():
    # the same Markov chain in every engine: mean energy and |m| at a point near T_c, in a field, agree within
    # 4 combined standard errors (tau-corrected); 8 comparisons, false-alarm rate ~5e-4
    T, H = 2.4, 0.05
    res = {e: sample_ising(T, H, 8, 3000, n_chains=16, burn_in=500, seed=i + 1, progress=False, keep_spins=False, **kw)
           for i, (e, kw) in enumerate(ENGINES.items())}
    ref = res.pop('multispin')
    for name, r in res.items():
        for attr in ('energy', 'abs_m'):
            (a, da), (b, db) = mean_and_error(getattr(ref, attr)[0]), mean_and_error(getattr(r, attr)[0])
            z = (a - b) / np.hypot(da, db)
            assert abs(z) < 4, (name, attr, a, b, z)
