"""The documentation site in a real browser: the site built by `python tools/build_docs.py _site` opened from disk in
Debian's Chromium (Playwright, headless, no network): the home page, and the module page and the tutorial with the
most mathematics load with no console error, every image shows, the mathematics is typeset by MathJax, and search answers.
A crawler follows every internal link of every page (files and `#fragments`) and rejects any resource fetched from
the network; its own unit checks below prove it catches each kind of breakage.

The site is `$HESSGEO_DOCS_SITE` (then it must exist: `.ci/run` sets it after building) or `_site/` in the repository
(skipped with the reason when not built). Screenshots go to a temporary folder that the test prints."""
import os, re, shutil, tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE_LOAD_S = 60

# ----------------------------------------------------------------------------------------------------------- crawler
class _PageParser(HTMLParser):
    "The references (tag, attribute, url) and the element ids of one HTML page"
    REFS = {('a', 'href'), ('link', 'href'), ('img', 'src'), ('script', 'src'), ('iframe', 'src'), ('source', 'src'),
            ('video', 'src'), ('audio', 'src'), ('embed', 'src'), ('object', 'data')}
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name'):
            if a.get(k): self.ids.add(a[k])
        for t, k in self.REFS:
            if tag == t and a.get(k): self.refs.append((tag, k, a[k].strip()))

def parse_page(path:Path) -> _PageParser:
    "References and ids of the HTML file `path`"
    p = _PageParser(); p.feed(path.read_text(encoding='utf-8', errors='replace')); p.close()
    return p

def crawl(site:Path, # the site folder
          start:str='index.html', # page the reader opens
         ) -> dict:
    "Check every reference of every HTML page of `site`: {'pages', 'reached', 'broken': [(page, url, why)], 'external': [(page, url)]}"
    site = site.resolve()
    pages = {p.relative_to(site).as_posix(): p for p in sorted(site.rglob('*.html'))}
    if start not in pages: return dict(pages=set(pages), reached=set(), broken=[(start, start, 'missing start page')], external=[])
    parsed, broken, external = {}, [], []
    def get(rel):
        if rel not in parsed: parsed[rel] = parse_page(pages[rel])
        return parsed[rel]
    reached, todo = {start}, [start]
    for rel in pages:  # every page, reachable or not: an unlinked page can still be found through search
        if rel not in todo: todo.append(rel)
    while todo:
        rel = todo.pop(0)
        for tag, attr, url in get(rel).refs:
            u = urlsplit(url)
            if u.scheme in ('http', 'https') or url.startswith('//'):
                if not (tag == 'a' or (tag == 'link' and attr == 'href' and not url.endswith(('.css', '.js')))):
                    external.append((rel, url))  # a script, stylesheet or image from the network: fails offline
                continue
            if u.scheme in ('mailto', 'javascript', 'data', 'tel') or (u.scheme and u.scheme != 'file'): continue
            if not u.path:  # '#frag' on the same page
                if u.fragment and unquote(u.fragment) not in get(rel).ids: broken.append((rel, url, 'no such anchor on the page'))
                continue
            target = (pages[rel].parent / unquote(u.path)).resolve()
            if target != site and site not in target.parents: broken.append((rel, url, 'points outside the site')); continue
            if target.is_dir(): target = target / 'index.html'
            if not target.is_file(): broken.append((rel, url, 'missing file')); continue
            trel = target.relative_to(site).as_posix()
            if target.suffix == '.html':
                if trel not in reached and tag == 'a': reached.add(trel)
                if u.fragment and unquote(u.fragment) not in get(trel).ids: broken.append((rel, url, 'no such anchor in the target page'))
    return dict(pages=set(pages), reached=reached, broken=broken, external=external)

# ------------------------------------------------------------------------------------------ the crawler's own checks
def _mini_site(d:Path) -> Path:
    "A three-page site with an image, a stylesheet and anchors, all links good"
    (d / 'sub').mkdir(parents=True)
    (d / 'img.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    (d / 'style.css').write_text('body{}')
    (d / 'index.html').write_text('<link rel="stylesheet" href="style.css"><a href="sub/a.html#sec">a</a> <a href="#top" id="top">top</a>'
                                  '<a href="https://example.org/">outside</a> <img src="img.png">')
    (d / 'sub' / 'a.html').write_text('<h2 id="sec">s</h2><a href="../index.html">home</a><a href="b.html?x=1">b</a>')
    (d / 'sub' / 'b.html').write_text('<p name="n">b</p><a href="a.html">a</a>')
    return d

def test_crawler_passes_a_good_site(tmp_path):
    r = crawl(_mini_site(tmp_path))
    assert r['broken'] == [] and r['external'] == []
    assert r['reached'] == {'index.html', 'sub/a.html', 'sub/b.html'}

@pytest.mark.parametrize('bad, why', [
    ('<a href="nope.html">x</a>', 'missing file'),
    ('<a href="a.html#nope">x</a>', 'no such anchor in the target page'),
    ('<a href="#nope">x</a>', 'no such anchor on the page'),
    ('<img src="_images/gone.png">', 'missing file'),
    ('<script src="gone.js"></script>', 'missing file'),
    ('<a href="../../outside.html">x</a>', 'points outside the site'),
])
def test_crawler_catches_breakage(tmp_path, bad, why):
    site = _mini_site(tmp_path / 'site')
    (tmp_path / 'outside.html').write_text('x')
    (site / 'sub' / 'b.html').write_text((site / 'sub' / 'b.html').read_text() + bad)
    r = crawl(site)
    assert [(p, w) for p, _, w in r['broken']] == [('sub/b.html', why)], r['broken']

def test_crawler_flags_network_resources(tmp_path):
    site = _mini_site(tmp_path)
    (site / 'index.html').write_text((site / 'index.html').read_text() + '<script src="https://cdn.example.org/mathjax.js"></script>')
    assert crawl(site)['external'] == [('index.html', 'https://cdn.example.org/mathjax.js')]

# --------------------------------------------------------------------------------------------------------- the site
def _site() -> Path:
    "The built site: $HESSGEO_DOCS_SITE (must exist), else _site/ in the repository (skip when absent)"
    env = os.environ.get('HESSGEO_DOCS_SITE')
    site = Path(env) if env else ROOT / '_site'
    if not (site / 'index.html').is_file():
        if env: pytest.fail(f"HESSGEO_DOCS_SITE={env} has no index.html: build it with python tools/build_docs.py {env}")
        pytest.skip(f"no documentation site at {site}: build it with python tools/build_docs.py _site")
    return site.resolve()

@pytest.fixture(scope='module')
def site(): return _site()

@pytest.fixture(scope='module')
def shots():
    "Folder for the screenshots (printed)"
    d = Path(tempfile.mkdtemp(prefix='hessgeo-docs-shots-'))
    print(f"\nscreenshots of the documentation site: {d}")
    return d

def nav_sections(site:Path) -> dict[str, list[str]]:
    "The sidebar of the home page: section caption -> page files"
    src = (site / 'index.html').read_text(encoding='utf-8')
    out = {}
    for cap, body in re.findall(r'<p class="caption[^"]*"[^>]*><span class="caption-text">(.*?)</span></p>\s*<ul>(.*?)</ul>', src, re.S):
        out[cap] = re.findall(r'<a class="reference internal" href="([^"#]+)"', body)
    return out

def pick_pages(site:Path) -> dict[str, str]:
    "The pages the browser opens: the home page, and the module page and the tutorial with the most mathematics"
    secs = nav_sections(site)
    api = secs.get('API reference', [])
    tut = next((v for k, v in secs.items() if k.lower().startswith('tutorial')), [])
    assert api and tut, f"the sidebar needs an 'API reference' and a 'Tutorials' section, found {list(secs)}"
    n_math = lambda p: (site / p).read_text(encoding='utf-8').count('class="math')
    return dict(index='index.html', module=max(api, key=n_math), tutorial=max(tut, key=n_math))

def test_site_links_and_offline(site):
    r = crawl(site)
    assert not r['broken'], 'broken internal links:\n' + '\n'.join(f'  {p}: {u} ({w})' for p, u, w in r['broken'][:50])
    assert not r['external'], 'resources from the network (the site must work offline):\n' + '\n'.join(f'  {p}: {u}' for p, u in r['external'][:50])
    bare = [p for p in sorted(r['pages']) if not all(k in (site / p).read_text(encoding='utf-8') for k in ('sidebar-tree', 'name="q"'))]
    assert not bare, f'pages without the navigation sidebar or the search box: {bare}'
    secs = nav_sections(site)
    listed = {p for v in secs.values() for p in v}
    assert listed <= r['reached'] and len(listed) >= 3, (secs, sorted(r['reached']))
    print(f"{len(r['pages'])} pages, {len(r['reached'])} reached from index.html; sections: "
          + ', '.join(f'{k} ({len(v)})' for k, v in secs.items()))

# ----------------------------------------------------------------------------------------------------------- browser
CHROMIUM = shutil.which('chromium')

@pytest.fixture(scope='module')
def browser():
    pytest.importorskip('playwright', reason="the browser test needs the python package 'playwright' (pip install -e '.[dev]')")
    if CHROMIUM is None: pytest.skip("the browser test needs Debian's chromium on PATH (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        try: yield b
        finally: b.close()

def open_page(browser, path:Path):
    "Open the file `path` in a new tab; returns the page and the list its console errors, page errors and failed requests fill"
    pg = browser.new_page(viewport=dict(width=1300, height=900))
    problems = []
    pg.on('console', lambda m: problems.append(f'console {m.type}: {m.text}') if m.type == 'error' else None)
    pg.on('pageerror', lambda e: problems.append(f'page error: {e}'))
    pg.on('requestfailed', lambda r: problems.append(f'request failed: {r.url} ({r.failure})'))
    pg.goto(path.as_uri(), wait_until='load', timeout=PAGE_LOAD_S * 1000)
    return pg, problems

_TYPESET = "async () => { if (!window.MathJax) return 'no MathJax'; await MathJax.startup.promise; return 'ok'; }"
_IMAGES = "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))"
_MATH = """() => { const m = [...document.querySelectorAll('.math')];
  return {math: m.length, typeset: m.filter(e => e.querySelector('mjx-container')).length,
          errors: document.querySelectorAll('mjx-merror').length}; }"""

@pytest.mark.parametrize('kind', ['index', 'module', 'tutorial'])
def test_page_in_chromium(site, browser, shots, kind):
    rel = pick_pages(site)[kind]
    pg, problems = open_page(browser, site / rel)
    try:
        math = pg.evaluate(_MATH)
        assert pg.evaluate(_TYPESET) == 'ok', f'{rel}: MathJax did not load ({math["math"]} formulas on the page)'
        pg.wait_for_timeout(300)
        missing = pg.evaluate(_IMAGES)
        math = pg.evaluate(_MATH)
        n_img = pg.evaluate('document.images.length')
        nav = pg.locator('.sidebar-tree a.reference').count()
        search = pg.locator('form.sidebar-search-container input[name="q"]').count()
        code = pg.locator('div.highlight pre span.k, div.highlight pre span.kn').count()
        pg.screenshot(path=str(shots / f'{kind}.png'), full_page=True)
        assert not problems, f'{rel}:\n' + '\n'.join(problems)
        assert not missing, f'{rel}: images that did not load: {missing}'
        assert math['math'] > 0 and math['typeset'] == math['math'] and math['errors'] == 0, f'{rel}: mathematics {math}'
        assert nav >= 3 and search == 1, f'{rel}: sidebar links {nav}, search boxes {search}'
        if kind != 'index': assert code > 0, f'{rel}: no highlighted Python code'
        if kind == 'tutorial': assert n_img > 0, f'{rel}: a tutorial without a figure'
        if kind == 'module':
            assert pg.locator('a.hg-source').count() > 0, f'{rel}: API reference without source links'
            assert pg.locator('.cell_output').count() > 0, f'{rel}: no cell outputs: the notebook was not executed'
        print(f"{rel}: {math['math']} formulas typeset, {n_img} images, {nav} sidebar links; screenshot {shots / (kind + '.png')}")
    finally: pg.close()

def test_search_in_chromium(site, browser, shots):
    pg, problems = open_page(browser, site / 'search.html')
    try:
        pg.goto((site / 'search.html').as_uri() + '?q=Fisher+metric', wait_until='load')
        pg.wait_for_selector('#search-results ul.search li', timeout=PAGE_LOAD_S * 1000)
        n = pg.locator('#search-results ul.search li').count()
        pg.screenshot(path=str(shots / 'search.png'), full_page=False)
        assert not problems, '\n'.join(problems)
        assert n > 0
        print(f'search "Fisher metric": {n} pages')
    finally: pg.close()
