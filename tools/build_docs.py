#!/usr/bin/env python
"""Build hessgeo's documentation site from the notebooks in `nbs/`: `python tools/build_docs.py _site`.

The notebooks are the documentation. Every notebook under `nbs/` (its name not starting with `_` or `.`) becomes a page:
`index.ipynb` the home page, notebooks with `#| default_exp` the API reference, `nbs/<folder>/` a section of its own
(`tutorials/`), other top-level notebooks (the benchmark results) the last section. Nothing here names a notebook.

Steps (`docs_build.ipynb` explains the choices):
1. execute: each notebook runs as `nbdev-test` runs it (in-process shell, cwd = its folder, cells flagged with
   `tst_flags` or `#| eval: false` left out and keeping their saved outputs), with nbdev's `show_doc` cells added
   after every exported definition; one process per notebook, cached by the notebook's and the library's content;
2. render: nbdev's directives become what a reader should see (`#| hide` cells dropped, `#| export` cells shown as
   code under their `show_doc`, whose output is inlined as the API reference with a link to a highlighted copy of
   the library source; API names in backticks link to their reference);
3. Sphinx with MyST-NB and the furo theme writes a static site; MathJax is bundled (sphinx-mathjax-offline), so the
   site opens from disk with no network.

Needs the `docs` extra: `pip install -e ".[docs]"`."""
from __future__ import annotations

import argparse, hashlib, html, json, os, re, shutil, signal, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).resolve().with_name('docs_site')
EXEC_VERSION = 1  # part of every cache key: bump when the way notebooks are executed changes
CELL_TIMEOUT_S = 1800  # a cell running longer fails the build (nbdev-test: 600 s; the build often shares the machine)
SECTION_API, SECTION_MORE = 'API reference', 'Results and notes'

# ---------------------------------------------------------------------------------------------------------- discover
@dataclass
class Page:
    "One notebook of the site: its file, its page name (nbdev's, without the number prefix) and its section"
    path: Path  # the notebook
    docname: str  # page name without suffix, e.g. 'core' or 'tutorials/ising_phase_diagram'
    section: str  # nav section: 'index', SECTION_API, SECTION_MORE or a folder's title
    module: str | None = None  # the `default_exp` module, if any
    title: str = ''

def _default_exp(nb:dict) -> str|None:
    "The `#| default_exp` module of the notebook `nb` (a parsed JSON dict), or None"
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        m = re.search(r'^\s*#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)
        if m: return m.group(1)
    return None

def _title(nb:dict, fallback:str) -> str:
    "The page title: frontmatter `title`, else the first markdown `# heading`, else `fallback`"
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and (m := re.search(r'^title:\s*(.+?)\s*$', src, re.M)): return m.group(1).strip('"\'')
        if c['cell_type'] == 'markdown' and (m := re.search(r'^#\s+(\S.*?)\s*$', src, re.M)): return m.group(1)
    return fallback

def page_name(rel:Path, # a notebook's path relative to nbs/
             ) -> str:
    "nbdev's page name of the notebook at `rel` (relative to nbs/): the number prefix dropped, no suffix"
    return (rel.parent / re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name)).with_suffix('').as_posix()

def discover(nbs:Path, # the notebooks folder
            ) -> list[Page]:
    "Every notebook under `nbs` as a `Page`: index first, then the sections, each sorted by file name"
    pages, seen = [], {}
    for p in sorted(nbs.rglob('*.ipynb')):
        rel = p.relative_to(nbs)
        if any(part.startswith(('_', '.')) for part in rel.parts): continue
        nb = json.loads(p.read_text(encoding='utf-8'))
        doc, mod = page_name(rel), _default_exp(nb)
        if doc in seen: raise SystemExit(f"build_docs: {rel} and {seen[doc]} would both become the page {doc!r}: rename one")
        seen[doc] = rel
        if doc == 'index': sec = 'index'
        elif len(rel.parts) > 1: sec = rel.parts[0].replace('_', ' ').capitalize()
        else: sec = SECTION_API if mod else SECTION_MORE
        pages.append(Page(p, doc, sec, mod, _title(nb, doc)))
    if not any(pg.docname == 'index' for pg in pages): raise SystemExit(f"build_docs: no index.ipynb in {nbs}: it is the home page")
    return sorted(pages, key=lambda pg: (pg.docname != 'index', pg.path))

def sections(pages:list[Page], # from `discover`
            ) -> dict[str, list[Page]]:
    "Pages by nav section, in the order a reader wants them: folders (tutorials) first, API reference, then the rest"
    order = lambda s: (s == SECTION_MORE, s == SECTION_API, s)
    secs = sorted({pg.section for pg in pages if pg.section != 'index'}, key=order)
    return {s: [pg for pg in pages if pg.section == s] for s in secs}

# ----------------------------------------------------------------------------------------------------------- execute
def _tst_flags() -> list[str]:
    "The flags in pyproject's `[tool.nbdev] tst_flags`: cells carrying one never run at build time"
    from nbdev.config import get_config
    return str(get_config(ROOT).get('tst_flags', '') or '').split()

def _hash_tree(d:Path) -> str:
    "sha256 over the relative paths and bytes of the files under `d` (byte-code caches left out)"
    h = hashlib.sha256()
    for f in sorted(d.rglob('*')):
        if f.is_file() and '__pycache__' not in f.parts and f.suffix not in ('.pyc', '.nbi', '.nbc'):
            h.update(f.relative_to(d).as_posix().encode() + b'\0' + f.read_bytes() + b'\0')
    return h.hexdigest()

def exec_key(nb_path:Path, # the notebook
             lib_hash:str, # `_hash_tree` of the library folder
             flags:list[str], # the skip flags
            ) -> str:
    "Cache key of an executed notebook: its bytes, the library's files, the skip flags and `EXEC_VERSION`"
    h = hashlib.sha256(nb_path.read_bytes())
    h.update(f'\0{lib_hash}\0{" ".join(sorted(flags))}\0{EXEC_VERSION}'.encode())
    return h.hexdigest()[:32]

def execute_one(src:Path, # the notebook to run
                dest:Path, # where the notebook with its outputs is written
                flags:list[str], # cells with one of these directives do not run (they keep their saved outputs)
                cell_timeout:int=CELL_TIMEOUT_S, # seconds a cell may run (0: no limit)
               ):
    "Run the notebook `src` as `nbdev-test` does, with `show_doc` after each export, and write it with outputs to `dest`"
    from execnb.shell import CaptureShell
    from fastcore.nbio import does_cell_eval, fm_default_eval, nb_frontmatter, write_nb
    from nbdev.process import NBProcessor
    from nbdev.processors import add_show_docs, populate_language
    from fastcore.basics import str2bool
    src = Path(src).resolve()
    nb = NBProcessor(src, procs=[populate_language], rm_directives=False, process=True).nb
    fm = nb_frontmatter(nb)
    if not str2bool(fm.get('skip_showdoc', False)): NBProcessor(nb=nb, procs=[add_show_docs], rm_directives=False, process=True)
    dflt = fm_default_eval(fm)
    skip_all = str2bool(fm.get('skip_exec', False))
    def skip(cell):
        out = (skip_all or cell.cell_type != 'code' or not does_cell_eval(cell, dflt) or bool(set(flags) & set(cell.directives_)))
        if not out: sys.stderr.write(f'cell {cell.idx_} starts\n'); sys.stderr.flush()  # the log names the cell a crash stopped in
        return out
    def done(cell): sys.stderr.write(f"cell {cell.idx_} took {cell.metadata['execution']['total']:.1f} s\n")
    k = CaptureShell(src)
    k.run_cell('from nbdev.showdoc import show_doc')
    os.chdir(src.parent)
    t0 = time.perf_counter()
    try: k.run_all(nb, exc_stop=True, preproc=skip, postproc=done, cell_timeout=cell_timeout or None)
    except BaseException as e:
        bad = next((c for c in nb.cells if c.get('outputs') and any(o.get('output_type') == 'error' for o in c.outputs)), None)
        where = f"cell {bad.idx_}:\n{bad.source}" if bad is not None else '(cell unknown)'
        sys.stderr.write(f"build_docs: {src} failed in {where}\n{type(e).__name__}: {str(e)[:2000]}\n")
        sys.stderr.flush()
        os._exit(1)  # now: a timed-out cell may still be running in the shell's thread, and teardown would abort
    for c in nb.cells:
        c.pop('has_sd', None)
        if c.cell_type == 'code': c.metadata.pop('execution', None)
    nb.metadata['hessgeo_docs'] = dict(wall_s=round(time.perf_counter() - t0, 1), cpu_s=round(time.process_time(), 1), flags=flags)
    dest = Path(dest); dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f'.{os.getpid()}.tmp')
    write_nb(nb, tmp); os.replace(tmp, dest)

def _exec_env() -> dict:
    "Environment of an executing notebook: this checkout's library first on the path, one thread unless told otherwise"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'NUMBA_NUM_THREADS'): env.setdefault(v, '1')
    env.setdefault('MPLBACKEND', 'Agg')
    return env

def execute_all(pages:list[Page], # the site's notebooks
                cache:Path, # folder of executed notebooks, named by their key
                workers:int=1, # notebooks run at once (one process each)
                execute:bool=True, # False: use the notebooks as saved, outputs and all
                cell_timeout:int=CELL_TIMEOUT_S, # seconds a cell may run (0: no limit)
               ) -> dict[str, Path]:
    "Executed copy of every page's notebook (from the cache when its key matches), by docname; stops at the first failure"
    if not execute: return {pg.docname: pg.path for pg in pages}
    flags, lib_hash = _tst_flags(), _hash_tree(ROOT / 'hessgeo')
    cache.mkdir(parents=True, exist_ok=True)
    out, todo = {}, []
    for pg in pages:
        dest = cache / f'{exec_key(pg.path, lib_hash, flags)}.ipynb'
        out[pg.docname] = dest
        if dest.exists(): print(f'  cached    {pg.path.relative_to(ROOT)}')
        else: todo.append((pg, dest))
    failed = []
    def run(item):
        pg, dest = item
        if failed or dest.exists(): return pg, dest, None, 0.0  # a notebook failed: start no other; or another build ran it
        t0 = time.perf_counter()
        cmd = [sys.executable, str(Path(__file__).resolve()), '--exec-one', str(pg.path), str(dest), '--flags', ' '.join(flags),
               '--cell-timeout', str(cell_timeout)]
        r = subprocess.run(cmd, env=_exec_env(), cwd=pg.path.parent, capture_output=True, text=True)
        return pg, dest, r, time.perf_counter() - t0
    with ThreadPoolExecutor(max(1, workers)) as ex:
        for pg, dest, r, dt in ex.map(run, todo):
            rel = pg.path.relative_to(ROOT)
            if r is None: continue
            if r.returncode != 0:
                failed.append(rel)
                how = f'killed by {signal.Signals(-r.returncode).name}' if r.returncode < 0 else f'exit {r.returncode}'
                raise SystemExit(f"build_docs: executing {rel} failed ({how}) after {dt:.0f} s; the end of its log:\n{r.stderr[-6000:]}")
            cpu = json.loads(dest.read_text(encoding='utf-8'))['metadata'].get('hessgeo_docs', {}).get('cpu_s', float('nan'))
            print(f'  executed  {rel} in {dt:.1f} s ({cpu:.1f} s of CPU in the notebook process)', flush=True)
    return out

# ------------------------------------------------------------------------------------------------------------ render
_re_source = re.compile(r'^\[source\]\((?P<url>[^)]*)\)(\{[^}]*\})?\s*$', re.M)
_re_heading = re.compile(r'^(#{1,6})\s+(\S.*?)\s*$', re.M)
_re_backticks = re.compile(r'`([^`\s]+?)(\(\))?`')  # as nbdev's doc links: `name` or `name()`
_re_md_link = re.compile(r'(!?\[[^\]]*\]\()([^)\s]+)((?:\s+"[^"]*")?\))')
_re_img_src = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")')
HIDE_DIRS = {'hide', 'default_exp', 'exporti'}
WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'

def _rel(frm:str, # a page, relative to the site root
         to:str, # a site path, relative to the site root
        ) -> str:
    "Relative URL from the page `frm` to the site path `to` (both relative to the site root)"
    return os.path.relpath(to, os.path.dirname(frm) or '.').replace(os.sep, '/')

def _html_id(name:str) -> str:
    "The HTML id docutils gives a section titled `name`"
    from docutils.nodes import make_id
    return make_id(name)

def source_docname(py:str, # a library file relative to the repository, e.g. 'hessgeo/core.py'
                  ) -> str:
    "Page name of the highlighted copy of the library file `py` ('hessgeo/core.py' -> 'source/hessgeo.core')"
    return 'source/' + Path(py).with_suffix('').as_posix().replace('/', '.')

def show_doc_markdown(md:str, # the text/markdown output of nbdev's `show_doc`
                      docname:str, # the page it goes on
                      lib:str='hessgeo', # the library folder, as named in the source link
                     ) -> tuple[str, str|None]:
    "`show_doc` markdown for the page `docname`: the leading rule dropped, the source link into this site; and its name"
    src = None
    if m := _re_source.search(md):
        url = m.group('url')  # nbdev: {git_url}/blob/{branch}/{lib}/{module}.py#L{line}
        pm = re.search(r'blob/[^/]+/([^#?]+\.py)(?:#L(\d+))?', url) or re.search(rf'\b({re.escape(lib)}/[^#?]+\.py)(?:#L(\d+))?', url)
        if pm and pm.group(1).startswith(lib + '/'):
            src = _rel(docname, source_docname(pm.group(1)) + '.html') + (f'#L-{pm.group(2)}' if pm.group(2) else '')
        md = _re_source.sub('', md, count=1)
    md = re.sub(r'^\s*---\s*\n', '', md.lstrip(), count=1)
    name = None
    if (h := _re_heading.search(md)):
        name = h.group(2)
        link = f' <a class="hg-source" href="{html.escape(src)}">[source]</a>' if src else ''
        md = md[:h.end()] + '\n\n<div class="hg-sig">' + link + '</div>\n' + md[h.end():] if link else md
    return md, name

def _is_show_doc(cell) -> bool:
    "Is `cell` a `show_doc` call (nbdev's rule: a line starting with `show_doc`)?"
    return cell.cell_type == 'code' and bool(re.search(r'^show_doc', cell.source, re.M))

def show_doc_arg(src:str, # a cell's source
                ) -> str|None:
    "The name a `show_doc(...)` cell documents"
    m = re.search(r'^show_doc\(\s*([\w.]+)', src, re.M)
    return m.group(1) if m else None

def defined_names(src:str, # a cell's source
                 ) -> set[str]:
    "Names `show_doc` gives the functions and classes a cell defines (`Class.method` for nbdev's `@patch`)"
    import ast
    from nbdev.showdoc import showdoc_nm
    try: trees = ast.parse(src).body
    except SyntaxError: return set()
    out = set()
    for t in trees:
        if isinstance(t, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            nm = showdoc_nm(t)
            out.update(nm if isinstance(nm, list) else [nm])
    return out

def _md_cell(src:str) -> dict:
    "A markdown cell with source `src`"
    from fastcore.nbio import mk_cell
    return mk_cell(src, 'markdown')

def _tags(cell, *tags):
    "Add MyST-NB tags (they become CSS classes `tag_<name>`) to `cell`"
    md = cell.setdefault('metadata', {})
    md['tags'] = list(dict.fromkeys(list(md.get('tags', [])) + list(tags)))

@dataclass
class Rendered:
    "A notebook turned into the page a reader sees, and the API names it documents (name -> HTML id)"
    page: Page
    nb: object
    symbols: dict = field(default_factory=dict)

def render(page:Page, # the page
           executed:Path, # its notebook with outputs
           flags:list[str], # cells with these directives were not run
           lib:str='hessgeo', # the library's folder, as in show_doc's source links
          ) -> Rendered:
    "Apply nbdev's directives for a reader: hidden cells dropped, show_doc outputs inlined, directives stripped"
    from fastcore.nbio import nb_frontmatter
    from nbdev.process import NBProcessor
    from nbdev.processors import strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics, populate_language
    nb = NBProcessor(executed, procs=[populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics],
                     rm_directives=True, process=True).nb
    fm, res, cells = nb_frontmatter(nb), Rendered(page, nb), []
    export = None  # [position in `cells`, names defined] of the export cell just added: its show_docs go above it
    for c in nb.cells:
        d = c.directives_
        if c.cell_type == 'raw': continue  # frontmatter: title and options are read above
        if c.cell_type != 'code': cells.append(c); export = None; continue
        if HIDE_DIRS & d.keys() or str(d.get('include', '')).lower() == 'false': continue
        if _is_show_doc(c):
            above = export is not None and show_doc_arg(c.source) in export[1]
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if not md: continue
                md, name = show_doc_markdown(''.join(md), page.docname, lib)
                if name: res.symbols.setdefault(name, _html_id(name))
                if above: cells.insert(export[0], _md_cell(md)); export[0] += 1
                else: cells.append(_md_cell(md))
            if not above: export = None
            continue
        export = [len(cells), defined_names(c.source)] if {'export', 'exports'} & d.keys() else None
        if {'export', 'exports'} & d.keys(): _tags(c, 'hg-export')
        not_run = sorted(set(flags) & d.keys())
        if not_run: _tags(c, 'hg-not-run', *[f'hg-flag-{f}' for f in not_run])
        elif str(d.get('eval', '')).lower() == 'false': _tags(c, 'hg-no-eval')
        if str(d.get('echo', '')).lower() == 'false': _tags(c, 'remove-input')
        if str(d.get('output', '')).lower() == 'false': _tags(c, 'remove-output')
        for o in c.get('outputs', []):
            data = o.get('data', {})
            if WIDGET_MIME in data:  # a live widget needs a kernel: say so instead of loading widget JS from the network
                o['data'] = {'text/html': '<p class="hg-widget">(interactive widget: run this notebook in Jupyter to use it)</p>'}
        if not c.source.strip() and not c.get('outputs'): continue
        cells.append(c)
    nb.cells = cells
    nb.metadata.pop('widgets', None)
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')  # nbdev-clean drops these;
    nb.metadata['language_info'] = dict(name='python', pygments_lexer='ipython3')             # MyST-NB picks its lexer here
    if not any(c.cell_type == 'markdown' and re.match(r'\s*#\s', c.source) for c in cells[:1]):
        desc = f"\n\n> {fm['description']}" if fm.get('description') else ''
        nb.cells.insert(0, _md_cell(f"# {fm.get('title', page.title)}{desc}"))
    return res

def _resolve_asset(ref:str, # a link target as written in the markdown
                   page:Page, # the page it is written on
                   nbs:Path, # the notebooks folder
                  ) -> Path|None:
    "The local file a markdown link `ref` of `page` names: relative to the notebook, else to the repository root"
    if re.match(r'^[a-z][a-z0-9+.-]*:', ref, re.I) or ref.startswith(('#', '/')): return None
    ref = ref.split('#')[0].split('?')[0]
    for base in (page.path.parent, ROOT):
        p = (base / ref).resolve()
        if p.is_file(): return p
    return None

def relink(r:Rendered, # a rendered page
           pages:list[Page], # every page (to link notebooks by their page)
           symbols:dict, # API name -> (docname, html id), from every page
           srcdir:Path, # the Sphinx source folder (assets are copied under `_assets/`)
           nbs:Path, # the notebooks folder
          ):
    "Point the markdown of `r` at this site: API names in backticks, other notebooks, local images and files"
    by_path = {pg.path.resolve(): pg for pg in pages}
    doc = r.page.docname
    def sym_link(m):
        name = m.group(1)
        key = next((k for k in (name, re.sub(r'^hessgeo\.', '', name), name.split('.', 1)[-1]) if k in symbols), None)
        if key is None: return m.group(0)
        tdoc, hid = symbols[key]
        href = (_rel(doc, tdoc + '.html') if tdoc != doc else '') + f'#{hid}'  # raw HTML: Sphinx cannot see docutils' ids
        return f'<a class="hg-api" href="{href}"><code>{html.escape(name + (m.group(2) or ""))}</code></a>'
    def link(m):
        ref = m.group(2)
        p = _resolve_asset(ref, r.page, nbs)
        if p is None: return m.group(0)
        frag = '#' + ref.split('#', 1)[1] if '#' in ref else ''
        if p.suffix == '.ipynb' and p in by_path: return f'{m.group(1)}{_rel(doc, by_path[p].docname + ".ipynb")}{frag}{m.group(3)}'
        url = _copy_asset(p, doc, srcdir)
        if m.group(1).startswith('!'): return f'{m.group(1)}{url}{m.group(3)}'
        return f'{m.group(1)}path:{url}{m.group(3)}'  # MyST: a file the site serves as is, not a page
    def img(m):
        p = _resolve_asset(m.group(2), r.page, nbs)
        return m.group(0) if p is None else f'{m.group(1)}{_copy_asset(p, doc, srcdir)}{m.group(3)}'
    for c in r.nb.cells:
        if c.cell_type != 'markdown': continue
        out, fence = [], False
        for line in c.source.splitlines():
            if line.lstrip().startswith(('```', '~~~')): fence = not fence
            if not fence and not line.startswith('    '):
                line = _re_md_link.sub(link, _re_backticks.sub(sym_link, line))
                line = _re_img_src.sub(img, line)
            out.append(line)
        c.source = '\n'.join(out)

def _copy_asset(p:Path, # a local file a page links to
                doc:str, # the page
                srcdir:Path, # the Sphinx source folder
               ) -> str:
    "Copy the repository file `p` under `srcdir/_assets/` (same path as in the repository); its URL from page `doc`"
    rel = p.relative_to(ROOT) if p.is_relative_to(ROOT) else Path(p.name)
    dest = srcdir / '_assets' / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists() or dest.read_bytes() != p.read_bytes(): shutil.copy2(p, dest)
    return _rel(doc, f'_assets/{rel.as_posix()}')

def _nav(pages:list[Page]) -> str:
    "The hidden toctrees that make the sidebar: one per section"
    out = []
    for sec, pgs in sections(pages).items():
        out.append(f'```{{toctree}}\n:hidden:\n:caption: {sec}\n\n' + '\n'.join(pg.docname for pg in pgs) + '\n```')
    return '\n\n'.join(out)

# ------------------------------------------------------------------------------------------------------ source pages
def write_source_pages(srcdir:Path, # Sphinx source folder
                       lib:Path, # the library package folder
                      ) -> list[str]:
    "A highlighted copy of every library file with line anchors `#L-<n>`, the target of the API's source links"
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    names = []
    for py in sorted(lib.rglob('*.py')):
        if '__pycache__' in py.parts or py.name == '_modidx.py': continue
        rel = py.relative_to(lib.parent).as_posix()
        code = highlight(py.read_text(encoding='utf-8'), PythonLexer(),
                         HtmlFormatter(linenos='inline', anchorlinenos=True, lineanchors='L', cssclass='highlight hg-listing'))
        doc = source_docname(rel)
        _write(srcdir / f'{doc}.md', f'---\norphan: true\n---\n\n# `{rel}`\n\n'
               f'Generated from the notebooks by `nbdev-export`.\n\n```{{raw}} html\n{code}\n```\n')
        names.append(doc)
    return names

def _write(p:Path, text:str):
    "Write `text` to `p` unless it already holds it (so Sphinx rebuilds only what changed)"
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists() or p.read_text(encoding='utf-8') != text: p.write_text(text, encoding='utf-8')

# ------------------------------------------------------------------------------------------------------------ sphinx
CONF = '''# Written by tools/build_docs.py on every build: edit it there.
project = "hessgeo"
copyright = "hessgeo developers"
release = version = {version!r}
html_title = "hessgeo " + version
extensions = ["myst_nb", "sphinx-mathjax-offline"]  # MathJax from a local copy: the site works offline
nb_execution_mode = "off"  # tools/build_docs.py has executed the notebooks (with its cache)
nb_render_markdown_format = "myst"
nb_merge_streams = True
nb_ipywidgets_js = {{}}  # no widget JavaScript from the network; live widgets need a kernel anyway
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True
suppress_warnings = ["myst.header",  # show_doc headings are level 3 wherever they sit
                    "misc.highlighting_failure"]  # show_doc signatures with repr() defaults such as <class ...>
html_theme = "furo"
html_static_path = ["_static"]
html_copy_source = False
html_show_sourcelink = False
html_show_search_summary = False  # summaries are fetched from the pages: browsers refuse that on file://
html_permalinks_icon = "#"
exclude_patterns = ["_assets/**", "**.ipynb_checkpoints"]
# the value MyST sets (MathJax typesets only math, not code); written here so that Sphinx does not see the
# configuration change on every build and rewrite every page
mathjax4_config = {{"options": {{"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area"}}}}

def setup(app): app.add_css_file("hessgeo.css")  # not html_css_files: extensions append to it, which reads as a change
'''

def _version() -> str:
    "The package version from the library's `__init__.py`"
    m = re.search(r'__version__\s*=\s*[\'"]([^\'"]+)', (ROOT / 'hessgeo' / '__init__.py').read_text(encoding='utf-8'))
    return m.group(1) if m else '0'

def stage(pages:list[Page], # from `discover`
          executed:dict[str, Path], # docname -> notebook with outputs, from `execute_all`
          srcdir:Path, # the Sphinx source folder to write
          nbs:Path, # the notebooks folder
         ) -> list[Rendered]:
    "Write the Sphinx source folder: the rendered notebooks, the source pages, `conf.py`, the stylesheet"
    from fastcore.nbio import write_nb
    flags = _tst_flags()
    rendered = [render(pg, executed[pg.docname], flags) for pg in pages]
    symbols = {}
    for r in rendered:
        for name, hid in r.symbols.items(): symbols.setdefault(name, (r.page.docname, hid))
    keep = set()
    for r in rendered:
        relink(r, pages, symbols, srcdir, nbs)
        if r.page.docname == 'index': r.nb.cells.append(_md_cell(_nav(pages)))
        dest = srcdir / f'{r.page.docname}.ipynb'
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_nb(r.nb, dest); keep.add(dest)
    keep |= {srcdir / f'{d}.md' for d in write_source_pages(srcdir, ROOT / 'hessgeo')}
    for f in list(srcdir.rglob('*.ipynb')) + list((srcdir / 'source').rglob('*.md')):  # pages whose notebook is gone
        if f not in keep: f.unlink()
    _write(srcdir / 'conf.py', CONF.format(version=_version()))
    _write(srcdir / '_static' / 'hessgeo.css', (ASSETS / 'hessgeo.css').read_text(encoding='utf-8'))
    return rendered

def sphinx(srcdir:Path, # the Sphinx source folder
           out:Path, # the site folder
           doctrees:Path, # Sphinx's cache of parsed pages
           strict:bool=False, # warnings are errors
          ):
    "Run Sphinx's html builder (incremental: only changed pages are rebuilt)"
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-j', '1', '-d', str(doctrees), str(srcdir), str(out)]
    if strict: cmd[4:4] = ['-W', '--keep-going']
    r = subprocess.run(cmd, cwd=srcdir)
    if r.returncode != 0: raise SystemExit(f"build_docs: sphinx-build failed (exit {r.returncode}); see the messages above")

# -------------------------------------------------------------------------------------------------------------- main
def _default_cache() -> Path:
    "Executed notebooks are kept in $HESSGEO_DOCS_CACHE, else ~/.cache/hessgeo/docs (keys are content hashes)"
    env = os.environ.get('HESSGEO_DOCS_CACHE')
    return Path(env) if env else Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'hessgeo' / 'docs'

def build(out:Path, # the site folder (static: open out/index.html)
          cache:Path|None=None, # executed notebooks (default: `_default_cache()`)
          work:Path|None=None, # Sphinx sources and doctrees (default: `_docs_build/` in the repository)
          workers:int=1, # notebooks executed at once
          execute:bool=True, # False: render the notebooks with the outputs they were saved with
          strict:bool=False, # turn Sphinx warnings into errors
          cell_timeout:int=CELL_TIMEOUT_S, # seconds a cell may run (0: no limit)
         ) -> list[Page]:
    "Build the site into `out`; prints what it executes and how long each step took"
    nbs = ROOT / 'nbs'
    cache, work = cache or _default_cache(), work or ROOT / '_docs_build'
    t0 = time.perf_counter()
    pages = discover(nbs)
    print(f'build_docs: {len(pages)} notebooks; executed notebooks cached in {cache}', flush=True)
    executed = execute_all(pages, cache, workers=workers, execute=execute, cell_timeout=cell_timeout)
    t1 = time.perf_counter()
    stage(pages, executed, work / 'src', nbs)
    t2 = time.perf_counter()
    sphinx(work / 'src', out, work / 'doctrees', strict=strict)
    t3 = time.perf_counter()
    print(f'build_docs: execute {t1 - t0:.1f} s, render {t2 - t1:.1f} s, sphinx {t3 - t2:.1f} s; '
          f'open {(out / "index.html").resolve()}', flush=True)
    return pages

def main(argv=None):
    "Command line: `python tools/build_docs.py OUT [--cache DIR] [--workers N] [--no-execute] [--strict]`"
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out', nargs='?', type=Path, help='site folder to write (static: open OUT/index.html)')
    ap.add_argument('--cache', type=Path, default=None, help='folder of executed notebooks (default $HESSGEO_DOCS_CACHE or ~/.cache/hessgeo/docs)')
    ap.add_argument('--work', type=Path, default=None, help='Sphinx sources and doctrees (default _docs_build/)')
    ap.add_argument('--workers', type=int, default=1, help='notebooks executed at once (default 1)')
    ap.add_argument('--no-execute', dest='execute', action='store_false', help='render the outputs the notebooks were saved with')
    ap.add_argument('--strict', action='store_true', help='Sphinx warnings are errors')
    ap.add_argument('--cell-timeout', type=int, default=CELL_TIMEOUT_S, help=f'seconds a cell may run, 0: no limit (default {CELL_TIMEOUT_S})')
    ap.add_argument('--exec-one', nargs=2, metavar=('NOTEBOOK', 'DEST'), help=argparse.SUPPRESS)
    ap.add_argument('--flags', default='', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.exec_one:
        execute_one(Path(a.exec_one[0]), Path(a.exec_one[1]), a.flags.split(), a.cell_timeout)
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(0)  # the notebook is written; skip interpreter teardown, where torch's or numba's threads can abort
    if a.out is None: ap.error('name the site folder, e.g. python tools/build_docs.py _site')
    if a.workers < 1: ap.error(f'--workers must be >= 1, got {a.workers}')
    if a.cell_timeout < 0: ap.error(f'--cell-timeout must be >= 0, got {a.cell_timeout}')
    build(a.out.resolve(), a.cache, a.work, a.workers, a.execute, a.strict, a.cell_timeout)

if __name__ == '__main__': main()
