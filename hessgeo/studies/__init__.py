"""One module per job of hessgeo, between the library and its front ends (the `hessgeo` command, benchmarks,
tutorials): presets as dataclasses (named presets in `PRESETS`) and `run(preset, *, work, seed, device, progress)`
returning a result dataclass. Studies never print, never write result files and never draw.

This file is kept by hand (nbdev exports the modules of a subpackage but not its `__init__.py`); the modules are
exported from nbs/14_study_ising.ipynb ... nbs/20_study_salad.ipynb."""
