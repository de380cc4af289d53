"Fast checks of the key identities of hessgeo.ising_exact (the notebook nbs/02_ising_exact.ipynb has the full set)"
import math

import numpy as np
import pytest
import torch

from hessgeo.ising_exact import (T_C, K_C, onsager_log_z, onsager_energy, onsager_heat_capacity, yang_magnetisation,
                                 kaufman_log_z, kaufman_energy, kaufman_heat_capacity, enumerate_dos, exact_dos)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_transfer_matrix_equals_enumeration(L):
    a, b = enumerate_dos(L), exact_dos(L)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.total == b.total == 2 ** (L * L)


def test_dos_l6_totals_symmetry_ground_states():
    d = exact_dos(6)
    N = 36
    assert d.total == 2 ** N  # exact Python-int sum
    np.testing.assert_array_equal(d.counts, d.counts[:, ::-1])  # g(B, M) = g(B, -M)
    assert d.counts[-1, 0] == d.counts[-1, -1] == 1 and d.counts[-1, 1:-1].sum() == 0  # two ground states
    assert d.counts[-3, 1] == d.counts[-3, -2] == N  # single spin flips


def test_kaufman_matches_dos_and_onsager():
    Ks = 1 / np.array([0.7, 1.5, 2.0, T_C, 2.6, 4.0, 9.0])
    for L in (4, 6):
        np.testing.assert_allclose(kaufman_log_z(Ks, L, L), exact_dos(L).log_z(Ks, 0.0), rtol=1e-12)
    T = np.array([1.5, 3.0])
    lz = kaufman_log_z(1 / T, 128, 128) / 128 ** 2 - np.where(T < T_C, math.log(2) / 128 ** 2, 0)
    np.testing.assert_allclose(lz, onsager_log_z(T), rtol=1e-10)
    np.testing.assert_allclose(kaufman_energy(1 / T, 128, 128), onsager_energy(T), rtol=1e-10)
    np.testing.assert_allclose(kaufman_heat_capacity(1 / T, 128, 128), onsager_heat_capacity(T), rtol=1e-8)


def test_onsager_closed_forms():
    catalan = 0.915965594177219015
    assert abs(onsager_log_z(T_C) - (0.5 * math.log(2) + 2 * catalan / math.pi)) < 1e-12
    T = np.array([1.0, 2.0, 2.5, 3.5])
    c_fd = (onsager_energy(T + 1e-6) - onsager_energy(T - 1e-6)) / 2e-6
    np.testing.assert_allclose(onsager_heat_capacity(T), c_fd, rtol=1e-8, atol=1e-8)
    assert yang_magnetisation(3.0) == 0 and 0.9 < yang_magnetisation(2.0) < 1


def test_hessian_is_covariance_and_metric_pullback():
    d = exact_dos(6)
    pts = torch.tensor([[1 / 1.8, 0.0], [K_C, 0.1], [1 / 3.0, -0.3]], dtype=torch.float64)
    hess = torch.func.vmap(torch.func.hessian(lambda p: d.log_z(p[0], p[1])))(pts)
    cov = d.hessian_log_z(pts[:, 0].numpy(), pts[:, 1].numpy())
    assert torch.allclose(hess, cov, rtol=1e-8, atol=1e-10)
    T, H = np.array([1.8, 3.0]), np.array([0.0, -0.3])
    g = d.fisher_metric(T, H).numpy()
    J = np.array([[[-1 / t ** 2, 0], [-h / t ** 2, 1 / t]] for t, h in zip(T, H)])
    g_kh = d.fisher_metric(T, H, coords='Kh').numpy()
    np.testing.assert_allclose(g, np.transpose(J, (0, 2, 1)) @ g_kh @ J, rtol=1e-12)


def test_observables_keys_and_values():
    d = exact_dos(4)
    o = d.observables(np.array([1.5, 2.5]), np.array([0.0, 0.2]))
    for k in ('energy', 'abs_mag', 'mag', 'heat_capacity', 'susceptibility', 'energy_sq', 'mag_sq',
              'energy_var', 'abs_mag_var', 'mag_var'):
        assert o[k].shape == (2,), k
    np.testing.assert_allclose(o['energy'][0], kaufman_energy(1 / 1.5, 4, 4), rtol=1e-12)
    np.testing.assert_allclose(o['heat_capacity'][0], kaufman_heat_capacity(1 / 1.5, 4, 4), rtol=1e-10)
    assert abs(o['mag'][0]) < 1e-14 and o['mag'][1] > 0


def test_bad_input():
    with pytest.raises(ValueError, match='L must be >= 2, got 1'): exact_dos(1)
    with pytest.raises(ValueError, match='L must be <= 4'): enumerate_dos(5)
    with pytest.raises(ValueError, match='T must be > 0, got 0.0'): exact_dos(4).observables(0.0, 0.0)
    with pytest.raises(ValueError, match='H must be finite, got nan'): exact_dos(4).fisher_metric(2.0, float('nan'))
    with pytest.raises(ValueError, match='T must be > 0'): onsager_log_z(-1.0)
    with pytest.raises(ValueError, match='K must be > 0'): kaufman_log_z(-0.1, 4, 4)
