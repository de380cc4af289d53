"Fast checks of hessgeo.metrics and hessgeo.geodesics against closed forms (the notebooks nbs/08_metrics.ipynb and nbs/08a_geodesics.ipynb have the full set)."
import math

import pytest
import torch

from hessgeo.core import ParamGrid
from hessgeo.core import CoordMap
from hessgeo.metrics import (GaussianNatural, GridMetric, HessianMetric, HyperbolicHalfPlane, Metric, PullbackMetric, fitted_metric,
                             gaussian_log_partition, volume_element)
from hessgeo.geodesics import (EnergyBVP, RK4Shooter, ShootingBVP, compare_with_straight_line, exp_map, geodesic,
                               geodesic_distance, geodesic_residual, resample_equidistant, straight_line)
from hessgeo.potential import FittedPotential
from hessgeo.studies.geodesic import fitted_geodesics

D = torch.float64
hyp = HyperbolicHalfPlane()


def pairs():
    P = torch.tensor([[-1.0, 1.0], [0.2, 0.6], [-0.4, 1.5]], dtype=D)
    Q = torch.tensor([[1.0, 1.0], [1.4, 1.8], [0.9, 0.7]], dtype=D)
    return P, Q


def test_exp_map_matches_closed_form_hyperbolic():
    p = torch.tensor([[0.0, 1.0], [0.5, 0.7], [-0.3, 1.8]], dtype=D)
    v = torch.tensor([[1.0, 0.5], [-0.6, 0.9], [1.2, -1.5]], dtype=D)
    end = exp_map(hyp, p, v, n_steps=200)
    exact = hyp.exp(p, v)
    assert float(((end - exact).norm(dim=-1) / exact.norm(dim=-1)).max()) < 1e-6


def test_hessian_metric_christoffels_match_gaussian_closed_form():
    th = GaussianNatural.from_half(torch.tensor([[0.3, 0.8], [-0.5, 1.4]], dtype=D))
    hm = HessianMetric(gaussian_log_partition, domain=lambda x: x[..., 1] < 0)
    torch.testing.assert_close(hm.christoffels(th), GaussianNatural().christoffels(th), rtol=1e-9, atol=1e-12)


def test_bvp_matches_closed_form_and_distance():
    P, Q = pairs()
    g = geodesic(hyp, P, Q)
    assert bool(g.converged.all())
    assert float((g.points - hyp.geodesic(P, Q, g.t)).norm(dim=-1).max()) < 1e-4
    assert float(((g.length - hyp.distance(P, Q)) / hyp.distance(P, Q)).abs().max()) < 1e-5


def test_detached_metric_energy_gives_wrong_curve():
    P = torch.tensor([[-1.0, 1.0]], dtype=D); Q = torch.tensor([[1.0, 1.0]], dtype=D)
    good = EnergyBVP(33).solve(hyp, P, Q)
    bad = EnergyBVP(33, detach_metric=True).solve(hyp, P, Q)
    apex = math.sqrt(2.0)   # the semicircle through (+-1, 1) has centre 0 and radius sqrt 2
    assert abs(float(good.points[0, 16, 1]) - apex) < 1e-2
    assert abs(float(bad.points[0, 16, 1]) - apex) > 0.3    # the detached minimiser is the straight segment y = 1
    assert float(bad.length[0]) > 1.05 * float(hyp.distance(P, Q)[0])


def test_resample_and_straight_line():
    yy = torch.linspace(1, math.e, 1001, dtype=D)
    rs = resample_equidistant(hyp, torch.stack([torch.zeros_like(yy), yy], -1)[None], 5)
    torch.testing.assert_close(rs[0, :, 1], torch.exp(torch.linspace(0, 1, 5, dtype=D)), rtol=1e-4, atol=0)
    P, Q = pairs()
    cmp = compare_with_straight_line(hyp, geodesic(hyp, P[:1], Q[:1]))
    torch.testing.assert_close(cmp['line_length'], torch.tensor([2.0], dtype=D), rtol=1e-10, atol=0)
    assert float(cmp['excess'][0]) > 0


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match='must be finite'):
        geodesic(hyp, [[0.0, 1.0]], [[float('nan'), 1.0]])
    with pytest.raises(ValueError, match='outside the domain'):
        geodesic(hyp, [[0.0, 1.0]], [[1.0, -1.0]])
    with pytest.raises(ValueError, match='not positive definite'):
        exp_map(HessianMetric(lambda x: x[:, 0] ** 2), [[0.0, 0.0]], [[1.0, 0.0]])
    grid = ParamGrid((-1.0, 0.5), (1.0, 2.5), (8, 8))
    vals = hyp.matrix(grid.tensor()).clone(); vals[3] = -vals[3]
    with pytest.raises(ValueError, match='grid metric value is degenerate or not positive definite'):
        GridMetric(grid, vals)
    gm = GridMetric(grid, hyp.matrix(grid.tensor()))
    with pytest.raises(ValueError, match='left the domain'):
        exp_map(gm, [[0.0, 0.7]], [[0.0, -3.0]])
    cur = RK4Shooter(50, on_exit='stop').shoot(gm, [[0.0, 0.7]], [[0.0, -3.0]])
    assert not bool(cur.converged[0]) and bool(torch.isfinite(cur.points).all())


def test_bad_input_on_every_path():
    flat = HessianMetric(lambda x: x[:, 0] ** 2)          # Hess F = diag(2, 0): degenerate everywhere
    concave = HessianMetric(lambda x: -(x ** 2).sum(-1))   # negative definite
    with pytest.raises(ValueError, match=r'q must be finite, got \[nan, 1.0\]'):
        ShootingBVP(20).solve(hyp, [[0.0, 1.0]], [[float('nan'), 1.0]])
    with pytest.raises(ValueError, match='not positive definite'):
        ShootingBVP(20).solve(flat, [[0.0, 0.0]], [[1.0, 1.0]])
    with pytest.raises(ValueError, match=r'p=\[0.0, -1.0\] \(batch index 0\) lies outside the domain'):
        EnergyBVP(9).solve(hyp, [[0.0, -1.0]], [[1.0, 1.0]])
    with pytest.raises(ValueError, match='not positive definite at x=\\[0.3, 0.1\\]'):
        concave([[0.3, 0.1]])
    with pytest.raises(ValueError, match='curve 0 has a non-finite point'):
        resample_equidistant(hyp, torch.tensor([[[0.0, 1.0], [0.5, float('nan')], [1.0, 1.0]]], dtype=D), 5)
    with pytest.raises(ValueError, match='curve 0 leaves the domain of HyperbolicHalfPlane'):
        resample_equidistant(hyp, torch.tensor([[[0.0, 1.0], [0.5, -0.2], [1.0, 1.0]]], dtype=D), 5)
    with pytest.raises(ValueError, match='degenerate or not positive definite'):
        resample_equidistant(flat, torch.tensor([[[0.0, 0.0], [1.0, 1.0]]], dtype=D), 5)
    grid = ParamGrid((-1.0, 0.5), (1.0, 2.5), (8, 8))
    vals = hyp.matrix(grid.tensor()).clone(); vals[5, 0, 0] = float('inf')
    with pytest.raises(ValueError, match='grid metric value is degenerate or not positive definite'):
        GridMetric(grid, vals)


def test_pullback_metric_gaussian_mu_sigma():
    ms_to_theta = CoordMap(lambda s: torch.stack([s[:, 0] / s[:, 1] ** 2, -0.5 / s[:, 1] ** 2], -1),
                           lambda t: torch.stack([-t[:, 0] / (2 * t[:, 1]), torch.rsqrt(-2 * t[:, 1])], -1))
    pb = PullbackMetric(HessianMetric(gaussian_log_partition, domain=lambda x: x[..., 1] < 0), ms_to_theta)
    s = torch.tensor([[0.3, 0.8], [-1.0, 1.7], [0.5, 0.4]], dtype=D)
    torch.testing.assert_close(pb(s), torch.diag_embed(torch.stack([1 / s[:, 1] ** 2, 2 / s[:, 1] ** 2], -1)), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(pb.christoffels(s), Metric.christoffels_and_metric(pb, s)[0], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match='outside the domain of PullbackMetric'):
        pb([[0.3, 0.0]])


def test_exp_map_matches_closed_form_gaussian():
    gauss = GaussianNatural()
    th = GaussianNatural.from_half(torch.tensor([[0.0, 1.0], [0.5, 0.7], [-0.3, 1.8]], dtype=D))
    v = torch.tensor([[0.6, 0.3], [-0.4, 0.5], [0.8, -0.2]], dtype=D)
    cur = RK4Shooter(200).shoot(gauss, th, v)
    exact = gauss.exp(th, v)
    assert float(((cur.points[:, -1] - exact).norm(dim=-1) / exact.norm(dim=-1)).max()) < 1e-6
    assert float(cur.speed_drift.max()) < 1e-8 and float(cur.residual.max()) < 1e-6


def test_residual_closed_forms_and_curve_at_rest():
    P = torch.tensor([[-1.0, 1.0], [0.0, 0.5]], dtype=D)
    horocycles = straight_line(P, P + torch.tensor([[2.0, 0.0], [1.0, 0.0]], dtype=D), 65)
    torch.testing.assert_close(geodesic_residual(hyp, horocycles), torch.ones(2, dtype=D), rtol=1e-9, atol=0)   # curvature 1
    same = geodesic(hyp, P[:1], P[:1])
    cmp = compare_with_straight_line(hyp, same)
    assert float(same.length[0]) < 1e-12 and float(same.residual[0]) == 0.0 and float(cmp['excess'][0]) == 0.0
    rest = RK4Shooter(10).shoot(hyp, P[:1], torch.zeros(1, 2, dtype=D))
    assert float(rest.residual[0]) == 0.0 and bool(torch.isfinite(rest.points).all())


def test_geodesic_distance_matches_closed_form():
    P, Q = pairs()
    torch.testing.assert_close(geodesic_distance(hyp, P[:2], Q[:2]), hyp.distance(P[:2], Q[:2]), rtol=1e-6, atol=0)


def test_nonfinite_velocity_and_shapes():
    with pytest.raises(ValueError, match=r'v must be finite, got \[nan, 0.0\]'):
        exp_map(hyp, [[0.0, 1.0]], [[float('nan'), 0.0]])
    with pytest.raises(ValueError, match='x and v must have the same shape'):
        RK4Shooter(5).shoot(hyp, [[0.0, 1.0], [0.0, 2.0]], [[1.0, 0.0]])


class _KGaussian(torch.nn.Module):
    "K times the Gaussian log-partition function: a 'fitted potential' whose per-sample metric is known in closed form"
    def __init__(self, K):
        super().__init__(); self.K = K; self.dummy = torch.nn.Parameter(torch.zeros((), dtype=D))

    def forward(self, th): return self.K * gaussian_log_partition(th) + self.dummy


def test_fitted_geodesics_hook_on_a_known_fit():
    fit = FittedPotential(_KGaussian(3), ParamGrid((-1.5, -2.0), (1.5, -0.3), (8, 8)), None, 3)
    P = torch.tensor([[-0.8, -1.5]], dtype=D); Q = torch.tensor([[0.9, -1.2]], dtype=D)
    res = fitted_geodesics(fit, P, Q, n_steps=24, n_points=17, energy_tol=1e-4)
    torch.testing.assert_close(res.geodesic_length, GaussianNatural().distance(P, Q), rtol=1e-6, atol=0)
    assert bool(res.converged.all()) and float(res.excess[0]) > 0
    with pytest.raises(ValueError, match='outside the domain of HessianMetric'):
        fitted_geodesics(fit, [[0.0, -1.0]], [[0.0, -0.1]])


def test_layernorm_potential_christoffels_through_fitted_metric():
    "fused nn.LayerNorm gets third derivatives wrong (pytorch/pytorch#175754); fitted_metric must route around it"
    from hessgeo.potential import MLPPotential
    grid = ParamGrid((-1.0, -1.0), (1.0, 1.0), (8, 8))
    model = MLPPotential([-1.0, -1.0], [1.0, 1.0], width=16, depth=2, seed=3)
    m = fitted_metric(FittedPotential(model, grid, None, 2))
    x = torch.tensor([[0.13, -0.41], [-0.52, 0.27], [0.33, 0.61]], dtype=D)
    h = 1e-5
    with torch.no_grad():
        dg = torch.stack([(m.matrix(x + h * e) - m.matrix(x - h * e)) / (2 * h) for e in torch.eye(2, dtype=D)], -1)
        G, g = m.christoffels_and_metric(x)
    G_fd = 0.5 * torch.einsum('bkl,bijl->bkij', torch.linalg.inv(g), dg)   # Hessian metric: Gamma^k_ij = 1/2 g^kl d_l g_ij
    torch.testing.assert_close(G, G_fd, rtol=1e-6, atol=1e-6 * float(G_fd.abs().max()))


def test_volume_element_tensor_and_array():
    y = torch.tensor([0.5, 2.0], dtype=D)
    g = hyp.matrix(torch.stack([torch.zeros_like(y), y], -1))
    torch.testing.assert_close(volume_element(g), 1 / y ** 2, rtol=1e-12, atol=0)
    assert abs(volume_element(g.numpy()) - (1 / y ** 2).numpy()).max() < 1e-12
    assert float(volume_element(torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=D))) == 0.0   # det < 0 clamps to the floor


def test_hessian_metric_uses_the_potentials_own_derivatives():
    from hessgeo.potential import ICNNPotential
    icnn = ICNNPotential([-1.0, -1.0], [1.0, 1.0], width=8, depth=2, seed=1)
    own, generic = HessianMetric(icnn), HessianMetric(icnn, own_derivatives=False)
    assert own.uses_own_derivatives and not generic.uses_own_derivatives and not HessianMetric(gaussian_log_partition).uses_own_derivatives
    x = torch.tensor([[0.1, -0.3], [0.5, 0.2]], dtype=D)
    with torch.no_grad():
        torch.testing.assert_close(own.matrix(x), icnn.hessian(x), rtol=0, atol=0)
        torch.testing.assert_close(own.christoffels(x), generic.christoffels(x), rtol=1e-9, atol=1e-12)


LONG_P, LONG_Q = torch.tensor([[-2.0, 0.3]], dtype=D), torch.tensor([[3.0, 1.5]], dtype=D)   # half-plane distance 4.10659...
SIX_P = torch.tensor([[-2.0, 0.3], [-1.0, 1.0], [0.2, 0.6], [-0.4, 1.5], [0.5, 0.7], [1.0, 0.2]], dtype=D)
SIX_Q = torch.tensor([[3.0, 1.5], [1.0, 1.0], [1.4, 1.8], [0.9, 0.7], [0.5, 0.7], [1.05, 3.0]], dtype=D)   # row 4: p == q


def test_energy_bvp_converges_on_257_nodes_and_says_when_it_does_not():
    d = float(hyp.distance(LONG_P, LONG_Q))
    assert abs(d - math.acosh(1 + (25 + 1.2 ** 2) / (2 * 0.3 * 1.5))) < 1e-14
    cur = EnergyBVP(257).solve(hyp, LONG_P, LONG_Q)
    assert cur.converged.tolist() == [True] and int(cur.iterations[0]) < 100
    assert abs(float(cur.length[0]) - d) < 1e-8                       # O(n^-4) length error: 1.4e-10 measured
    assert float((cur.points - hyp.geodesic(LONG_P, LONG_Q, cur.t)).norm(dim=-1).max()) < 9.5 / 256 ** 2   # O(n^-2) nodes
    short = EnergyBVP(257, max_iter=5).solve(hyp, LONG_P, LONG_Q)
    assert short.converged.tolist() == [False] and short.iterations.tolist() == [5]


def test_energy_bvp_node_refinement_is_second_order():
    devs = [float((c.points - hyp.geodesic(LONG_P, LONG_Q, c.t)).norm(dim=-1).max())
            for c in (EnergyBVP(n).solve(hyp, LONG_P, LONG_Q) for n in (65, 129, 257))]
    assert all(3.9 < devs[i] / devs[i + 1] < 4.1 for i in range(2))


def test_energy_bvp_curve_answer_does_not_depend_on_its_batch():
    batch = EnergyBVP(129).solve(hyp, SIX_P, SIX_Q)
    alone = [EnergyBVP(129).solve(hyp, SIX_P[i:i + 1], SIX_Q[i:i + 1]) for i in range(6)]
    L1 = torch.cat([c.length for c in alone])
    assert bool(batch.converged.all()) and all(bool(c.converged[0]) for c in alone)
    assert float(((batch.length - L1).abs() / L1.clamp(min=1e-300)).max()) <= 1e-12
    assert batch.iterations.tolist() == [int(c.iterations[0]) for c in alone]


def test_geodesic_of_a_point_to_itself_is_the_constant_curve():
    for P, Q, k in ((SIX_P, SIX_Q, 4), (SIX_P[4:5], SIX_Q[4:5], 0)):
        for cur in (geodesic(hyp, P, Q), geodesic(hyp, P, Q, refine=False), EnergyBVP(33).solve(hyp, P, Q), ShootingBVP(50).solve(hyp, P, Q, v0=torch.ones_like(P))):
            assert bool((cur.points[k] == P[k]).all()) and bool((cur.v0[k] == 0).all()) and bool(cur.converged[k])
            assert float(cur.length[k]) == 0 and float(cur.residual[k]) == 0 and float(cur.energy[k]) == 0


def test_geodesic_long_pair_matches_closed_form():
    cur = geodesic(hyp, LONG_P, LONG_Q)
    assert cur.converged.tolist() == [True] and abs(float(cur.length[0] - hyp.distance(LONG_P, LONG_Q)[0])) < 1e-8


def test_shooting_flags_each_row_on_its_own():
    v0 = torch.stack([torch.tensor([2.0, 2.0], dtype=D), geodesic(hyp, SIX_P[1:2], SIX_Q[1:2]).v0[0] + 1e-7])
    both = ShootingBVP(200, max_iter=1).solve(hyp, SIX_P[:2], SIX_Q[:2], v0=v0)
    assert both.converged.tolist() == [False, True]
    assert both.converged.tolist() == (both.endpoint_error <= 1e-11 * (1 + SIX_Q[:2].norm(dim=-1))).tolist()
    assert [bool(ShootingBVP(200, max_iter=1).solve(hyp, SIX_P[i:i + 1], SIX_Q[i:i + 1], v0=v0[i:i + 1]).converged[0]) for i in range(2)] == [False, True]
