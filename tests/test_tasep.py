"Fast tests of hessgeo.tasep: exact solution, exact sampler, simulator and bad input (the notebook has the full checks)"
import math

import numpy as np
import pytest
import torch

from hessgeo.tasep import (all_configs, pack_configs, sample_tasep_exact, simulate_tasep, tasep_bulk, tasep_current,
                           tasep_density_profile, tasep_fisher_metric, tasep_log_prob, tasep_log_probs_all,
                           tasep_log_z, tasep_matrices, tasep_phase, unpack_configs)


def master_equation_stationary(alpha, beta, N):
    "Null vector of the open-TASEP generator built from the jump rules"
    X = all_configs(N).astype(int)
    w = 1 << np.arange(N - 1, -1, -1)
    Q = np.zeros((len(X), len(X)))
    for s, x in enumerate(X):
        moves = []
        if x[0] == 0: y = x.copy(); y[0] = 1; moves.append((y, alpha))
        for i in range(N - 1):
            if x[i] == 1 and x[i + 1] == 0: y = x.copy(); y[i], y[i + 1] = 0, 1; moves.append((y, 1.0))
        if x[-1] == 1: y = x.copy(); y[-1] = 0; moves.append((y, beta))
        for y, r in moves: Q[s, int(y @ w)] += r; Q[s, s] -= r
    A = np.vstack([Q.T, np.ones(len(X))]); rhs = np.zeros(len(X) + 1); rhs[-1] = 1
    return np.linalg.lstsq(A, rhs, rcond=None)[0]


def test_catalan():
    Z = np.exp([tasep_log_z(1.0, 1.0, N) for N in range(1, 9)])
    np.testing.assert_allclose(Z, [math.comb(2 * n, n) // (n + 1) for n in range(2, 10)], rtol=1e-10)


@pytest.mark.parametrize('alpha,beta', [(0.3, 0.7), (1.4, 0.5), (0.25, 0.25)])
def test_master_equation(alpha, beta):
    for N in (1, 4, 7):
        p = tasep_log_prob(all_configs(N), alpha, beta).exp().numpy()
        np.testing.assert_allclose(p, master_equation_stationary(alpha, beta, N), atol=1e-12)
        np.testing.assert_allclose(tasep_log_probs_all(alpha, beta, N).exp().numpy(), p, atol=1e-13)


def test_density_and_current_consistent_with_enumeration():
    N = 8
    p = tasep_log_probs_all(0.6, 0.35, N).exp().numpy()
    X = all_configs(N)
    np.testing.assert_allclose(p @ X, tasep_density_profile(0.6, 0.35, N), rtol=1e-10)
    np.testing.assert_allclose(0.6 * (1 - p @ X[:, 0]), tasep_current(0.6, 0.35, N), rtol=1e-10)


def test_matrix_representations_agree():
    for rep in ('positive', 'dehp'):
        D, E, W, V = tasep_matrices(0.4, 0.9, 6, representation=rep)
        assert math.isclose(math.log(W @ torch.linalg.matrix_power(D + E, 6) @ V), tasep_log_z(0.4, 0.9, 6), rel_tol=1e-12)


def test_large_n_and_phase_diagram():
    J = tasep_current([0.2, 0.8, 0.9], [0.7, 0.3, 0.8], 1000)
    np.testing.assert_allclose(J[:2], [0.16, 0.21], rtol=1e-9)
    assert tasep_phase([0.2, 0.8, 0.9, 0.3], [0.7, 0.3, 0.8, 0.3]).tolist() == ['LD', 'HD', 'MC', 'LD-HD']
    np.testing.assert_allclose(tasep_bulk(0.2, 0.7)[1], 0.2)


def test_fisher_metric_n1_closed_form():
    a, b = 0.7, 0.3
    np.testing.assert_allclose(tasep_fisher_metric(a, b, 1), np.array([[b / a, -1], [-1, a / b]]) / (a + b) ** 2, rtol=1e-12)


def test_exact_sampler_matches_probabilities():
    N, S = 4, 40_000
    p = tasep_log_probs_all(0.5, 0.8, N).exp().numpy()
    smp = sample_tasep_exact(0.5, 0.8, N, S, seed=0)[0]
    freq = np.bincount(smp.astype(int) @ (1 << np.arange(N - 1, -1, -1)), minlength=2 ** N) / S
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / S))  # 16 binomial z-scores below 5


def test_simulator_deterministic_and_packed():
    r1 = simulate_tasep([0.3, 0.9], 0.6, 9, 20, n_chains=2, burn_in=50, seed=1, progress=False)
    r2 = simulate_tasep([0.3, 0.9], 0.6, 9, 20, n_chains=2, burn_in=50, seed=1, progress=False)
    assert r1.configs.shape == (2, 2, 20, 9) and np.array_equal(r1.configs, r2.configs)
    assert np.array_equal(unpack_configs(pack_configs(r1.configs), 9), r1.configs)


def test_simulator_current_n10():
    res = simulate_tasep(0.3, 0.7, 10, 2000, n_chains=8, spacing=2, seed=2, progress=False)
    z = (res.current_rate[0] - tasep_current(0.3, 0.7, 10)) / res.current_rate_err[0]
    assert abs(z) < 4.5


@pytest.mark.parametrize('call,msg', [
    (lambda: simulate_tasep(0.0, 0.5, 10, 10), 'alpha must be > 0, got 0.0'),
    (lambda: simulate_tasep(0.5, float('inf'), 10, 10), 'beta must be finite, got inf'),
    (lambda: simulate_tasep(0.5, 0.5, 0, 10), 'N must be >= 1, got 0'),
    (lambda: simulate_tasep([0.5, 0.6], [0.5, 0.6, 0.7], 10, 10), 'broadcastable shapes'),
    (lambda: sample_tasep_exact(0.5, -2.0, 5, 10), 'beta must be > 0, got -2.0'),
    (lambda: tasep_log_z(0.5, 0.5, 2.5), 'N must be an integer, got 2.5'),
    (lambda: tasep_log_prob(np.zeros((3, 2, 4)), [0.3, 0.4], 0.5), 'does not match parameter shape'),
    (lambda: tasep_log_prob(np.full((2, 4), 2), 0.3, 0.5), 'configs must hold only 0 and 1'),
])
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace(')', r'\)')):
        call()
