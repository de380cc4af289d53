"Fast checks of hessgeo.phases on the Gaussian-mixture diffusion toy, whose phase boundary and boundary Lipschitz constant are exact."
import math

import numpy as np
import pytest
import torch
from torch.func import jacfwd, vmap

from hessgeo.core import ParamGrid
from hessgeo.diffusion import LatentPlane
from hessgeo.phases import (GaussianMixtureFlow, bisect_boundary, box_counting_dimension, default_n_eff, embedding_log_posterior,
                            fractal_percolation, label_boundaries, lipschitz_map, phase_labels,
                            pullback_metric, ridge_boundary_agreement, toy_plane, zoom_sequence)

D = torch.float64


@pytest.fixture(scope="module")
def toy():
    mu = torch.zeros(8, dtype=D); mu[0] = 1.0
    flow = GaussianMixtureFlow.symmetric(mu, 0.3, steps=48)
    gen, Z = toy_plane(flow, seed=0)
    c = np.array([float(Z[0] @ mu), float((Z[1] - Z[0]) @ mu), float((Z[2] - Z[0]) @ mu)])   # boundary: c0 + c1 a + c2 b = 0
    return flow, gen, Z, c


def test_midpoint_lipschitz_matches_closed_form():
    flow = GaussianMixtureFlow.symmetric([1.0], 0.3, steps=256)
    z = torch.tensor([[1e-8], [-1e-8]], dtype=D)
    x = flow.sample(z)
    # RK4 at 256 steps: relative error 5e-6 (measured in the notebook, fourth-order convergence)
    assert abs(float((x[0, 0] - x[1, 0]) / 2e-8) / flow.midpoint_lipschitz() - 1) < 2e-5


def test_phase_boundary_is_the_analytic_line(toy):
    flow, gen, Z, c = toy
    grid = ParamGrid([0, 0], [1, 1], (16, 16))
    labels = phase_labels(logits=flow.logits(gen(grid.tensor())))
    exact = (c[0] + c[1] * grid.points[:, 0] + c[2] * grid.points[:, 1] > 0).astype(int)
    np.testing.assert_array_equal(labels, exact)       # the flow keeps the sign of <mu, z> exactly
    np.testing.assert_array_equal(label_boundaries(labels, grid), label_boundaries(exact, grid))
    label = lambda ab: flow.logits(gen(ab)).argmax(1)
    p, q = bisect_boundary(label, [0.0, 0.5], [1.0, 0.5], tol=1e-10)
    a_exact = -(c[0] + c[2] * 0.5) / c[1]
    assert abs(0.5 * (p[0] + q[0]) - a_exact) < 1e-9


def test_lipschitz_peaks_on_the_boundary_with_the_exact_value(toy):
    flow, gen, Z, c = toy
    grid = ParamGrid([0, 0], [1, 1], (16, 16))
    labels = phase_labels(logits=flow.logits(gen(grid.tensor())))
    lm = lipschitz_map(gen, grid, progress=False)
    agree = ridge_boundary_agreement(lm['lipschitz'].numpy(), label_boundaries(labels, grid))
    assert agree['auc'] > 0.95 and agree['ratio'] > 2
    # on the line the Jacobian is diag(L_mid, c_perp, ...) dz/d(a, b) exactly (see the notebook)
    b = torch.tensor([0.3, 0.5], dtype=D)
    pts = torch.stack([-(torch.as_tensor(c[0]) + c[2] * b) / c[1], b], -1)
    plane = LatentPlane(Z[0], Z[1], Z[2], dtype=D)
    dz = vmap(jacfwd(lambda p: plane.latents(p[None])[0]))(pts)
    scale = torch.full((flow.d,), math.sqrt(1 + flow.sigma_max ** 2) * flow.s / math.sqrt(flow.s ** 2 + flow.sigma_max ** 2), dtype=D)
    scale[0] = flow.midpoint_lipschitz()
    exact = torch.linalg.matrix_norm(scale[None, :, None] * dz, ord=2)
    fd = lipschitz_map(gen, pts, eps=1e-7, progress=False)['lipschitz']
    jv = lipschitz_map(gen, pts, use_jvp=True, progress=False)['lipschitz']
    torch.testing.assert_close(jv, exact, rtol=5e-3, atol=0)     # 48 RK4 steps at s = 0.3: ~3e-3 relative
    torch.testing.assert_close(fd, jv, rtol=1e-5, atol=0)


def test_posterior_rows_normalised_and_linear_embedding_exact():
    g = ParamGrid([0, 0], [1, 1], (6, 7))
    A = torch.tensor([[2.0, 0.5], [0.0, 1.0], [1.0, -1.0]], dtype=D)
    E = g.tensor() @ A.T
    lp = embedding_log_posterior(E, g, n_eff=30.0)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(g.n, dtype=D), rtol=0, atol=1e-12)
    assert int(lp.argmax(1).eq(torch.arange(g.n)).sum()) == g.n           # each row peaks at its own cell
    torch.testing.assert_close(pullback_metric(E, g), (A.T @ A).expand(g.n, 2, 2), rtol=1e-10, atol=1e-12)
    assert default_n_eff(E, g, width=1.0) == pytest.approx(4 * default_n_eff(E, g, width=2.0))


@pytest.mark.parametrize("mask,exact", [
    (np.eye(128, dtype=bool), 1.0),
    (np.ones((128, 128), bool), 2.0),
    (np.bitwise_and(*np.meshgrid(np.arange(128), np.arange(128), indexing='ij')) == 0, math.log2(3)),
])
def test_box_counting_exact_sets(mask, exact):
    r = box_counting_dimension(mask)
    assert r['dimension'] == pytest.approx(exact, abs=1e-12)
    assert r['ci'][0] <= r['dimension'] <= r['ci'][1]


def test_box_counting_random_fractal():
    dims = [box_counting_dimension(m, sizes=[1, 2, 4, 8, 16])['dimension']
            for m in (fractal_percolation(8, 0.8, s) for s in range(10)) if m.sum() > 50]
    # the spread over realisations is ~0.02 (notebook: 0.010 at 512 cells); 0.05 covers the mean of these few
    assert np.mean(dims) == pytest.approx(math.log2(3.2), abs=0.05)


def test_zoom_on_a_straight_boundary(toy):
    flow, gen, Z, c = toy
    label = lambda ab: flow.logits(gen(ab)).argmax(1)
    zs = zoom_sequence(label, [0.5, 0.5], 1.0, shape=(16, 16), factor=10, max_levels=5, dtype=torch.float64, progress=False)
    assert len(zs) == 5
    for z in zs[1:]:
        assert abs(c[0] + c[1] * z.centre[0] + c[2] * z.centre[1]) / math.hypot(c[1], c[2]) < z.size / 16
        assert z.dimension['dimension'] == pytest.approx(1.0, abs=0.05)


def test_bad_input():
    g = ParamGrid([0, 0], [1, 1], (4, 4))
    E = torch.randn(16, 3, dtype=D)
    with pytest.raises(ValueError, match='leading length 16'): embedding_log_posterior(E[:5], g)
    E[2, 1] = float('nan')
    with pytest.raises(ValueError, match='emb must be finite'): embedding_log_posterior(E, g)
    with pytest.raises(ValueError, match='n_eff must be > 0'): embedding_log_posterior(torch.randn(16, 3), g, n_eff=0.0)
    with pytest.raises(ValueError, match='exactly one'): phase_labels()
    with pytest.raises(ValueError, match='16 entries'): label_boundaries(np.zeros(5), g)
    with pytest.raises(ValueError, match='empty'): box_counting_dimension(np.zeros((16, 16), bool))
    with pytest.raises(ValueError, match='need both boundary and interior'): ridge_boundary_agreement(np.ones(4), np.ones(4, bool))
    with pytest.raises(ValueError, match='eps is required'): lipschitz_map(lambda x: x, torch.zeros(3, 2))
    with pytest.raises(ValueError, match='size must be > 0'): zoom_sequence(lambda x: x[:, 0] > 0, [0.5, 0.5], 0.0)
    with pytest.raises(ValueError, match='share one shape'): LatentPlane(torch.zeros(3), torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match='means must have shape'): GaussianMixtureFlow(np.zeros(3), 0.3)
    with pytest.raises(ValueError, match='s must be > 0'): GaussianMixtureFlow.symmetric([1.0], -0.3)
