"""Hessian geometry of the latent space of generative models: Fisher metrics, phase transitions and geodesics from samples

hessgeo treats a generative model as a family of distributions $p(x | t)$ over a 2-D parameter $t$: the Ising
model in (T, H), the open TASEP in its boundary rates, a diffusion model along a plane through its noise space. From
samples alone it learns the posterior $p(t | x_1..x_K)$, fits a convex log-partition function $F(t)$ whose Hessian
is the Fisher metric, and from that metric finds phase transitions, phase diagrams and geodesics. It also measures a
generator's local geometry (Jacobian scaling, rank, complexity) and whether an embedding's similarities follow category
or style (SALAD). Every stage is checked against exact answers: Onsager, Kaufman, exact densities of states, the
matrix-product TASEP solution, closed-form geodesics.

## Modules, in the order data flows through them

| layer | module | what it holds |
|---|---|---|
| foundations | `core` | `ParamGrid`, coordinate maps, the device rule `resolve_device`, seeds, autocorrelation and jackknife errors, atomic writes, the naming rules |
| models | `ising` | checkerboard Metropolis over many (T, H) points at once: numba engines on the CPU, torch on any device; Wolff clusters |
| models | `ising_exact` | Onsager, Yang, Kaufman's finite torus, exact density of states (L <= 10), exact ln Z and Fisher metric |
| models | `tasep` | open TASEP: simulator, exact partition function and probabilities, exact sampler, exact Fisher metric, phases |
| models | `diffusion` | latent planes through a diffusion model's noise space, batched DDIM, a resumable sharded plane sampler, the embedded digits model |
| models | `salad` | category-vs-style similarity weights of embeddings, retrieval, heatmaps, a generated digits mini-SALAD |
| models | `localgeo` | local scaling, rank and complexity of a generator from JVPs over a random subspace |
| data | `data` | `SampleBank`: samples on a grid on disk, checksummed, resumable, in bundles of i.i.d. samples |
| method | `posterior` | posterior networks with exact pooling over a bundle, training with checkpoints, cross-fitting, calibration |
| method | `potential` | convex and MLP potentials that own their exact Hessians, the Bregman posterior model and its fit |
| method | `baselines` | Mean-as-Stat, PCA-as-Stat, ClassiFIM as its authors built it, Fisher read-outs of statistics |
| method | `pipeline` | ground truths, scores, ridges, and `reconstruct`: the method beside the baselines |
| geometry | `metrics` | metric objects (closed-form, Hessian of a potential, grid-sampled, pulled back): each supplies its matrix |
| geometry | `geodesics` | RK4 shooting, boundary-value solvers, exp and log maps, distances, comparison with straight lines |
| geometry | `phases` | posterior and metric over a latent plane, phase maps, ridge-boundary agreement, fractal zoom, Lipschitz maps |
| studies | `studies.ising` | the Ising job: presets and `run`, the method from samples against the exact or Monte Carlo metric |
| studies | `studies.tasep` | the TASEP job: the same for the open TASEP from its exact sampler |
| studies | `studies.thermo` | sampled Ising thermodynamics over (T, H) with z-scores against the exact density of states |
| studies | `studies.digits_plane` | a latent plane of the digits model: mosaic, phases, metric, Lipschitz map |
| studies | `studies.geodesic` | geodesics against straight lines on an exact or fitted metric |
| studies | `studies.localgeo` | local geometry of the digits model over a plane, against the plane metric |
| studies | `studies.salad` | SALAD weights of embeddings on the mini-SALAD |
| front ends | `results` | one strict-JSON writer for every job's results, and its reader |
| front ends | `plots` | every figure of the package: `fig=`/`ax=` in, the figure out |
| front ends | `cli` | the `hessgeo` command: one job per study, its options from the presets |
| front ends | `widgets` | interactive explorers of a latent plane and of a phase diagram |

Modules:

- `hessgeo.phases`: Geometry of a latent plane of a generative model: the Gaussian-feature posterior over the plane and the metric it induces, phase maps and how well the metric's ridges follow the phase boundaries, fractal zooms with a box-counting dimension, the sampler's Lipschitz map, and geodesic vs straight-line interpolation. Everything is checked first on a diffusion toy with exact answers (a Gaussian mixture with an analytic score), then applied to the embedded digits model of `hessgeo.diffusion`.
- `hessgeo.salad`: What does an image embedding consider similar, category or style? The SALAD analysis (Ohm et al., fruit-SALAD, Scientific Data 2025) for any embedding and any balanced category x style image set: similarity weights, nearest-neighbour retrieval rates, ordered distance heatmaps; a loader for the published folder layout and a generated 10 x 10 digits mini-SALAD."""

__version__ = "0.1.0"
