"""Hessian geometry of the latent space of generative models: Fisher metrics, phase transitions and geodesics from samples

Modules:

- `hessgeo.phases`: Geometry of a latent plane of a generative model: the Gaussian-feature posterior over the plane and the metric it induces, phase maps and how well the metric's ridges follow the phase boundaries, fractal zooms with a box-counting dimension, the sampler's Lipschitz map, and geodesic vs straight-line interpolation. Everything is checked first on a diffusion toy with exact answers (a Gaussian mixture with an analytic score), then applied to the embedded digits model of `hessgeo.diffusion`.
- `hessgeo.salad`: What does an image embedding consider similar, category or style? The SALAD analysis (Ohm et al., fruit-SALAD, Scientific Data 2025) for any embedding and any balanced category x style image set: similarity weights, nearest-neighbour retrieval rates, ordered distance heatmaps; a loader for the published folder layout and a generated 10 x 10 digits mini-SALAD."""

__version__ = "0.1.0"
