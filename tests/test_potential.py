"Fast tests of hessgeo.potential: convexity, the Bregman model, JS divergence, bad input, and a small exact fit"
import math
import warnings

import numpy as np
import pytest
import torch

from hessgeo.core import ParamGrid
from hessgeo.potential import (FittedPotential, ICNNPotential, MLPPotential, PotentialEnsemble, as_log_posteriors,
                               bregman_log_posterior, bundle_log_posteriors, fit_potential, heat_capacity_peak, js_divergence,
                               metric_error, pool_log_posteriors, population_log_posterior, potential_hessian,
                               reverse_third_derivatives, third_order_safe)

D = torch.float64


class Bits(torch.nn.Module):
    "K ln Z of two independent {0,1} bits with natural parameters u (an exponential family with known metric)"
    def __init__(self, K=1): super().__init__(); self.K = K
    def forward(self, u): return self.K * torch.nn.functional.softplus(u).sum(-1)


def bits_log_probs(grid):
    X = torch.tensor([[0., 0.], [0., 1.], [1., 0.], [1., 1.]], dtype=D)
    u = grid.tensor()
    return u @ X.T - Bits()(u)[:, None]


def test_icnn_is_convex_everywhere():
    net = ICNNPotential((0., 0.), (1., 1.), width=16, depth=3)
    u = torch.randn(300, 2, dtype=D, generator=torch.Generator().manual_seed(0)) * 5
    assert bool((torch.linalg.eigvalsh(potential_hessian(net, u))[:, 0] > 0).all())


def test_mlp_without_layernorm_has_zero_hessian():
    net = MLPPotential((0., 0.), (1., 1.), width=32, depth=2, layernorm=False)
    with torch.no_grad(): assert float(potential_hessian(net, torch.rand(20, 2, dtype=D)).abs().max()) == 0.0


def test_population_posterior_is_bregman_model_of_K_lnZ():
    g = ParamGrid((-1., -1.), (1., 1.), (5, 5))
    torch.testing.assert_close(population_log_posterior(bits_log_probs(g), 3), bregman_log_posterior(Bits(3), g.tensor()),
                               rtol=0, atol=1e-10)


def test_geometric_pooling_is_unbiased_arithmetic_is_broad():
    g = ParamGrid((-1., -1.), (1., 1.), (5, 5))
    lp = bits_log_probs(g)
    q = population_log_posterior(lp, 2)
    bl = bundle_log_posteriors(lp, 2, 3000, seed=0)
    geo = float(js_divergence(q, pool_log_posteriors(bl)).max())   # ~3e-5: sampling noise of 3000 bundles
    ari = float(js_divergence(q, pool_log_posteriors(bl, 'arithmetic')).min())   # ~7e-4: a systematic bias
    assert geo < 1e-4 and ari > 5 * geo


def test_fit_recovers_exact_metric_of_bits():
    g = ParamGrid((-2., -2.), (2., 2.), (8, 8))
    q = population_log_posterior(bits_log_probs(g), 2)
    fit = fit_potential(q, g, bundle_size=2, width=32, steps=200, lbfgs_steps=200, progress=False)
    s = torch.sigmoid(g.tensor()); exact = torch.diag_embed(s * (1 - s))
    assert float(metric_error(fit.metric(g.tensor()), exact).median()) < 0.05


def test_bad_input():
    g = ParamGrid((0., 0.), (1., 1.), (3, 3))
    P = np.full((9, 9), 1 / 9); P[4, 2] = np.nan
    with pytest.raises(ValueError, match='posteriors contain nan at row 4, column 2'): fit_potential(P, g, progress=False)
    with pytest.raises(ValueError, match=r'must be a \(9, 9\) matrix'): fit_potential(np.full((4, 4), .25), g, progress=False)
    with pytest.raises(ValueError, match='bundle_size must be >= 1'): fit_potential(np.full((9, 9), 1 / 9), g, bundle_size=0)
    with pytest.raises(ValueError, match="model must be 'icnn', 'mlp'"): fit_potential(np.full((9, 9), 1 / 9), g, model='rbf')


def test_nonconvex_fit_is_reported():
    g = ParamGrid((-2., -2.), (2., 2.), (6, 6))
    q = population_log_posterior(bits_log_probs(g), 1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        fit = fit_potential(q, g, model='mlp', width=32, depth=2, steps=5, progress=False)
    bad = fit.nonconvex_cells()
    if len(bad):
        assert any('not convex' in str(x.message) for x in w)
        with pytest.raises(ValueError, match='the fitted potential is not convex'): fit.metric(g.tensor(), strict=True)


def test_own_hessians_and_third_derivatives_match_torch_func():
    "the structured Hessians and the third derivatives over them agree with torch.func (third-order-safe module) at float64"
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(12, 2, generator=gen, dtype=D) * 2 - 0.5
    icnn = ICNNPotential((-1., -1.), (1., 0.5), width=8, depth=2, seed=1)
    mlp = MLPPotential((-1., -1.), (1.5, 1.), width=8, depth=2, seed=2)
    for m in (icnn, mlp, PotentialEnsemble([icnn, mlp])):
        assert m.has_structured_hessian
        with torch.no_grad():
            torch.testing.assert_close(m.hessian(u), potential_hessian(m, u), rtol=1e-10, atol=1e-12)
            F3, g = m.third_derivatives(u)
            F3f, gf = reverse_third_derivatives(lambda v: potential_hessian(third_order_safe(m), v), u)
        torch.testing.assert_close(F3, F3f, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(g, gf, rtol=1e-10, atol=1e-12)


class _Quartic(torch.nn.Module):
    "F(T, H) = -T^4/12 + a T^3/6 + H^2/2: T^2 F_TT = a T^3 - T^4 peaks at T = 3a/4"
    def __init__(self, a): super().__init__(); self.a = a
    def forward(self, u): return -u[:, 0] ** 4 / 12 + self.a * u[:, 0] ** 3 / 6 + u[:, 1] ** 2 / 2


def test_heat_capacity_peak():
    fit = FittedPotential(_Quartic(3.2), ParamGrid((1.5, -0.5), (3.5, 0.5), (4, 4)), None, 1)
    assert abs(heat_capacity_peak(fit) - 2.4) < 1e-3
    off = FittedPotential(_Quartic(3.2), ParamGrid((1.5, 0.1), (3.5, 0.5), (4, 4)), None, 1)
    with pytest.raises(ValueError, match='the line H = 0 must cross'): heat_capacity_peak(off)
