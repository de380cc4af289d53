"Fast checks of hessgeo.localgeo against exact answers (the notebook nbs/11_localgeo.ipynb has the full set)."
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import jacfwd, vmap

from hessgeo.localgeo import jacobian_variation, local_geometry, neuron_flips, random_subspace, subspace_jacobian

D = torch.float64


def test_psi_is_log_abs_det_for_square_maps():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(7, 7, generator=g, dtype=D)
    z = torch.randn(3, 7, generator=g, dtype=D)
    lg = local_geometry(lambda z: z @ A.T, z, P=7, seed=2, progress=False)
    assert torch.allclose(lg.psi, torch.linalg.slogdet(A).logabsdet.expand(3), atol=1e-9)
    assert lg.rank.tolist() == [7, 7, 7]


def test_low_rank_and_subspace_singular_values():
    U, V = random_subspace(15, 2, seed=1), random_subspace(9, 2, seed=2)
    A = U @ torch.diag(torch.tensor([4.0, 0.25], dtype=D)) @ V.T
    z = torch.zeros(2, 9, dtype=D)
    full = local_geometry(lambda z: z @ A.T, z, P=9, progress=False)
    assert full.rank.tolist() == [2, 2] and torch.allclose(full.psi, torch.zeros(2, dtype=D), atol=1e-12)
    Q = random_subspace(9, 4, seed=3)
    sub = local_geometry(lambda z: z @ A.T, z, Q=Q, progress=False)
    assert torch.allclose(sub.sigma, torch.linalg.svdvals(A @ Q).expand(2, 4), atol=1e-12)


def test_smooth_map_matches_full_jacobian():
    g = torch.Generator().manual_seed(4)
    W = torch.randn(5, 5, generator=g, dtype=D)
    f = lambda z: torch.sin(z @ W.T) + 2 * z
    z = torch.randn(4, 5, generator=g, dtype=D)
    J = vmap(jacfwd(lambda x: f(x[None])[0]))(z)
    assert torch.allclose(local_geometry(f, z, P=5, progress=False).psi, torch.linalg.slogdet(J).logabsdet, atol=1e-9)
    Q = random_subspace(5, 3, seed=0)
    assert torch.allclose(subspace_jacobian(f, z, Q), J @ Q, atol=1e-12)


def test_flips_first_layer_equal_lines_crossing_ball():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 20), nn.ReLU(), nn.Linear(20, 2)).double().eval()
    W, b = net[0].weight.detach(), net[0].bias.detach()
    Q = random_subspace(2, 2, seed=1)
    z = torch.rand(25, 2, dtype=D) * 4 - 2
    r = 0.5
    flips = neuron_flips(net, z, Q, r)
    # a line w.x + b = 0 crosses the l1 ball {z + r(a q1 + b q2): |a| + |b| <= 1} iff |w.z + b| < r * max_j |w.q_j|
    crossing = ((z @ W.T + b).abs() < r * (W @ Q).abs().max(1).values).sum(1)
    assert flips.tolist() == crossing.tolist()


def test_jacobian_variation_exact_for_square_map():
    z = torch.randn(3, 6, dtype=D)
    Q = random_subspace(6, 3, seed=5)
    jv = jacobian_variation(lambda z: z * z, z, Q, radius=0.2)
    exp = torch.stack([(Q[:, j:j + 1] * Q).norm() for j in range(3)]).mean() * 0.2 / (z[:, :, None] * Q).flatten(1).norm(dim=-1)
    assert torch.allclose(jv, exp, atol=1e-12)
    assert torch.allclose(jacobian_variation(lambda z: 3 * z + 1, z, Q, radius=0.2), torch.zeros(3, dtype=D), atol=1e-12)


def test_bad_input():
    f = lambda z: z
    with pytest.raises(ValueError, match='batch index 1'):
        local_geometry(f, torch.tensor([[0.0, 1.0], [math.nan, 0.0]]), P=2, progress=False)
    with pytest.raises(ValueError, match='P must be <= d=2'):
        local_geometry(f, torch.zeros(1, 2), P=3, progress=False)
    with pytest.raises(ValueError, match='no activation modules'):
        neuron_flips(nn.Linear(2, 2), torch.zeros(1, 2), random_subspace(2, 2), 0.1)
