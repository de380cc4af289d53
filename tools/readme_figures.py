"""Make the README's figures in docs/ with the `hessgeo` jobs: each figure is what the job writes (or, for the
diffusion plane, its three maps in one row), scaled down to about 90 dpi so the repository stays small.

    python tools/readme_figures.py                  # geodesic, diffusion, localgeo, salad (minutes on one core)
    python tools/readme_figures.py --only geodesic,salad
    python tools/readme_figures.py --only ising     # the method from samples at tutorial 01's preset (a few minutes)

The Ising and TASEP reconstruction figures at benchmark size come from `python benchmarks/reconstruct.py --figures docs`
(a small TASEP run is too noisy to stand for the method, so there is no TASEP job here).
Intermediate files (samples, npz, json) go to --work (default: a temporary folder), only PNGs are copied to --docs.
"""
import argparse, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np

JOBS = ('geodesic', 'diffusion', 'localgeo', 'salad', 'ising')
DEFAULT = ('geodesic', 'diffusion', 'localgeo', 'salad')


def shrink(src: Path, dst: Path, scale: float):
    "Copy a PNG, resampled by `scale` (1: plain copy)"
    from PIL import Image
    dst.parent.mkdir(parents=True, exist_ok=True)
    if scale == 1: shutil.copyfile(src, dst); return dst
    im = Image.open(src)
    im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS).save(dst, optimize=True)
    return dst


def diffusion_row(work: Path, out: Path):
    "Mosaic, phase map and metric map of the plane `hessgeo diffusion` wrote, in one figure at 90 dpi"
    import matplotlib; matplotlib.use('Agg')
    import torch
    from hessgeo.core import ParamGrid
    from hessgeo.plots import plot_plane, save_figure
    a = np.load(work / 'diffusion_plane.npz')
    G = int(round(np.sqrt(len(a['labels']))))
    grid = ParamGrid((0.0, 0.0), (1.0, 1.0), (G, G), names=('a', 'b'))
    fig = plot_plane(grid, labels=a['labels'], metric=torch.as_tensor(a['metric']), images=torch.as_tensor(a['images']),
                     boundaries=a['boundaries'], title=f'digits UNet, plane seed 0, {G} x {G}, DDIM 20 steps')
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].replace('\n', ' '))
    p.add_argument('--only', default=','.join(DEFAULT), help=f"comma-separated jobs among {', '.join(JOBS)}")
    p.add_argument('--docs', default=str(Path(__file__).resolve().parent.parent / 'docs'), help='where the PNGs go')
    p.add_argument('--work', default=None, help='folder for the jobs\' outputs (default: temporary)')
    a = p.parse_args(argv)
    jobs = [j for j in a.only.split(',') if j]
    bad = [j for j in jobs if j not in JOBS]
    if bad: p.error(f"unknown job {bad[0]!r}; choose from {', '.join(JOBS)}")
    from hessgeo.cli import main as hessgeo
    docs, work = Path(a.docs), Path(a.work or tempfile.mkdtemp(prefix='hessgeo_figures_'))
    runs = {  # job: (arguments of the hessgeo job, [(file it writes, name in docs, scale)])
        'geodesic': (['geodesic'], [('geodesic_map.png', 'geodesic_map.png', 1)]),
        'diffusion': (['diffusion', '--n-grid', '24', '--no-lipschitz'], []),
        'localgeo': (['localgeo', '--n-grid', '8'], [('localgeo_maps.png', 'localgeo_maps.png', 0.75)]),
        'salad': (['salad', '--n-per-cell', '4'], [('salad_weights.png', 'salad_weights.png', 0.75)]),
        'ising': (['ising', '--preset', 'tutorial'],
                  [('ising_phase_diagram.png', 'ising_phase_diagram.png', 0.75)]),
    }
    for job in jobs:
        args, files = runs[job]
        t0 = time.time()
        rc = hessgeo(args + ['--out', str(work / job), '--quiet'])
        if rc: sys.exit(f"hessgeo {' '.join(args)} failed with exit code {rc}")
        made = [shrink(work / job / f, docs / name, s) for f, name, s in files]
        if job == 'diffusion': made.append(diffusion_row(work / job, docs / 'diffusion_plane.png'))
        print(f"{job}: {time.time() - t0:.0f} s -> {', '.join(str(m) for m in made)}")


if __name__ == '__main__': main()
