"""Write README.md from nbs/index.ipynb, the README's source (nbdev-readme needs Quarto, which this project cannot install).

    python tools/make_readme.py            # write README.md
    python tools/make_readme.py --check    # exit 1, with a diff, when README.md is not what the notebook gives

The notebook is rendered with nbconvert's markdown exporter after the nbdev directives are handled: cells marked
`#| hide` (or `#| include: false`) are left out, `#| echo: false` keeps only a cell's outputs, `#| output: false` only
its source, and every other `#|` line is dropped. Links and images are written relative to nbs/ in the notebook (so
that they work there) and relative to the repository root in the README.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB, README = ROOT / 'nbs' / 'index.ipynb', ROOT / 'README.md'
HEADER = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then run that command. -->\n\n'
LINK = re.compile(r'(!?\[[^\]]*\]\()([^)\s]+)(\))')


def directives(source:str) -> tuple[dict, str]:
    "The nbdev directives at the top of a cell's source (name -> value) and the source without them"
    lines, found = source.splitlines(), {}
    while lines and lines[0].startswith('#|'):
        name, _, value = lines.pop(0)[2:].strip().partition(':')
        if name: found[name.strip()] = value.strip()
    return found, '\n'.join(lines)


def rebase(link:str, src:Path=NB.parent, dst:Path=ROOT) -> str:
    "A link target relative to folder `src` made relative to folder `dst` (URLs and anchors unchanged)"
    if re.match(r'^([a-z][a-z0-9+.-]*:|#|/)', link, re.I): return link
    path, hash_, anchor = link.partition('#')
    return Path(os.path.relpath(src / path, dst)).as_posix() + hash_ + anchor


def readme_notebook(nb):
    "The notebook `nb` (nbformat) as the README shows it: directives handled, links rebased"
    keep = []
    for cell in nb.cells:
        d, cell.source = directives(cell.source)
        if 'hide' in d or d.get('include') == 'false': continue
        if cell.cell_type == 'markdown': cell.source = LINK.sub(lambda m: m[1] + rebase(m[2]) + m[3], cell.source)
        if cell.cell_type == 'code':
            if d.get('echo') == 'false': cell.source = ''
            if d.get('output') == 'false': cell.outputs = []
            if not cell.source.strip() and not cell.outputs: continue
        keep.append(cell)
    nb.cells = keep
    return nb


def render(nb_path:Path=NB) -> str:
    "README.md's text, from the notebook at `nb_path`"
    import nbformat
    from nbconvert import MarkdownExporter
    body, _ = MarkdownExporter().from_notebook_node(readme_notebook(nbformat.read(nb_path, as_version=4)))
    lines = [l.rstrip() for l in body.strip().splitlines()]
    text = re.sub(r'\n{3,}', '\n\n', '\n'.join(lines))
    return HEADER + text + '\n'


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', action='store_true', help='do not write: exit 1 when README.md differs from the notebook')
    a = ap.parse_args(argv)
    text = render()
    if not a.check:
        README.write_text(text)
        print(f"wrote {README.relative_to(ROOT)} ({len(text.splitlines())} lines) from {NB.relative_to(ROOT)}")
        return 0
    old = README.read_text() if README.exists() else ''
    if old == text: return 0
    diff = difflib.unified_diff(old.splitlines(), text.splitlines(), 'README.md', 'from nbs/index.ipynb', lineterm='', n=1)
    sys.stdout.write('\n'.join(list(diff)[:60]) + '\n')
    print("README.md differs from nbs/index.ipynb: run `python tools/make_readme.py` and commit README.md")
    return 1


if __name__ == '__main__':
    sys.exit(main())
