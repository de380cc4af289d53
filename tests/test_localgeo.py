"Fast checks of hessgeo.localgeo against exact answers (the notebook nbs/11_localgeo.ipynb has the full set)."
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import jacfwd, vmap

from hessgeo.localgeo import (GuidedDDIMGenerator, class_entropy, ddim_generator, fit_psi_regressor, guided_sample, jacobian_variation,
                              local_geometry, neuron_flips, psi_features, random_subspace, subspace_jacobian)

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


def test_checkpoint_resumes_and_refuses_other_runs(tmp_path):
    A = torch.randn(5, 5, generator=torch.Generator().manual_seed(3), dtype=D)
    z = torch.randn(7, 5, generator=torch.Generator().manual_seed(4), dtype=D)
    ck = tmp_path / 'run.safetensors'
    calls = []
    def f(x):
        calls.append(len(x))
        if len(calls) == 3 and len(x) == 3: raise KeyboardInterrupt   # dies in the second chunk
        return x @ A.T
    with pytest.raises(KeyboardInterrupt):
        local_geometry(f, z, P=5, chunk=3, progress=False, checkpoint=ck)
    calls.clear()
    res = local_geometry(f, z, P=5, chunk=3, progress=False, checkpoint=ck)
    assert calls == [1, 3, 1]                       # shape probe, then only the two chunks not yet saved
    assert torch.allclose(res.psi, torch.linalg.slogdet(A).logabsdet.expand(7), atol=1e-9)
    with pytest.raises(ValueError, match='was written for other points'):
        local_geometry(lambda x: x @ A.T, z[:6], P=5, progress=False, checkpoint=ck)


def test_class_entropy():
    assert class_entropy(np.arange(10)) == pytest.approx(math.log2(10))
    assert class_entropy([3, 3]) == 0.0
    with pytest.raises(ValueError, match='labels must be in'):
        class_entropy([-1, 0])


def tiny_generator():
    from diffusers import UNet2DModel, DDIMScheduler
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), norm_num_groups=4, layers_per_block=1,
                       down_block_types=('DownBlock2D', 'DownBlock2D'), up_block_types=('UpBlock2D', 'UpBlock2D')).double().eval()
    return ddim_generator(unet.requires_grad_(False), DDIMScheduler(num_train_timesteps=1000, clip_sample=False), steps=3)


def test_generator_is_the_sampler_bit_for_bit():
    # DDIMGenerator and diffusion.ddim_sample run one DDIM loop: the same images, bit for bit (here in float64)
    from hessgeo.diffusion import ddim_sample
    G = tiny_generator()
    z = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=D)
    with torch.no_grad(): mine = G(z)
    assert torch.equal(mine.clamp(0, 1), ddim_sample(G.unet, G.scheduler, z, steps=3, progress=False, out_dtype=D))


def test_guided_chain_zero_scale_and_regressor_recovers_a_linear_target():
    G = tiny_generator()
    z = torch.randn(120, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=D)
    with torch.no_grad(): plain = G(z[:4])
    assert torch.allclose(guided_sample(G, z[:4], lambda x, t: x.flatten(1).sum(1), 0.0), plain, atol=1e-12)
    _, x0 = G.trajectory(z, predictions=True)
    target = psi_features(x0[1])[:, 10] - 2 * psi_features(x0[1])[:, 64]     # exact in the features of step 1
    reg, info = fit_psi_regressor(G, z, target, val_fraction=0.25, progress=False)
    assert info.n_val == 30 and info.val_r2_per_step[1] > 0.999
    # guiding towards higher r raises r of the final sample (the notebook checks the guided chain's JVPs)
    Gg = GuidedDDIMGenerator(G, reg, 1.0)
    with torch.no_grad(): up = Gg(z[:8])
    assert float(reg.head(up, G.timesteps[-1]).mean()) > float(reg.head(G(z[:8]).detach(), G.timesteps[-1]).mean())
