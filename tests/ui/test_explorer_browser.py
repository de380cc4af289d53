"""Real-browser test of the hessgeo explorers: serve `explorer_app.ipynb` with voila on 127.0.0.1, drive it with
Playwright in Debian's Chromium, move a slider, wait for the picture to change, save screenshots.

Skips (with the reason) when chromium, voila, playwright or ipykernel is missing; `.ci/run` installs them. Never
runs `playwright install`: the browser is the system's `chromium`."""
import base64, os, shutil, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

APP = Path(__file__).with_name('explorer_app.ipynb')
PNG = b'\x89PNG\r\n\x1a\n'
SERVER_START_S, PAGE_LOAD_S, IMAGE_WAIT_S = 90, 180, 150

for _mod in ('voila', 'playwright', 'ipykernel'):
    pytest.importorskip(_mod, reason=f"the browser test needs the python package {_mod!r} (pip install -e '.[dev]')")
CHROMIUM = shutil.which('chromium')
if CHROMIUM is None: pytest.skip("the browser test needs Debian's chromium on PATH (apt-get install chromium)", allow_module_level=True)
from playwright.sync_api import sync_playwright, Error as PlaywrightError

# bytes of the <img> a widget shows: fetch its current blob/data URL in the page
_IMG_BYTES = """async (sel) => {
  const img = document.querySelector(sel);
  if (!img || !img.src || img.src === window.location.href) return null;
  const b = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ''; for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192));
  return btoa(s);
}"""

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _log_tail(path, n=40) -> str:
    try: return '\n'.join(Path(path).read_text(errors='replace').splitlines()[-n:])
    except OSError: return '(no log)'

@pytest.fixture(scope='module')
def voila_url(tmp_path_factory):
    "A voila server for the app notebook on 127.0.0.1 at a free port; killed (with its kernels) at teardown"
    d = tmp_path_factory.mktemp('voila')
    port, log = _free_port(), d / 'voila.log'
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', HG_UI_THREADS='1', MPLBACKEND='Agg',
               JUPYTER_RUNTIME_DIR=str(d / 'runtime'), PYTHONUNBUFFERED='1')
    cmd = [sys.executable, '-m', 'voila', str(APP), '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1',
           '--Voila.port_retries=0', '--show_tracebacks=True']
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=APP.parent, start_new_session=True)
    try:
        end = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None: pytest.fail(f"voila exited with {proc.returncode}:\n{_log_tail(log)}")
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1): break
            except OSError: pass
            if time.monotonic() > end: pytest.fail(f"voila did not listen on port {port} within {SERVER_START_S} s:\n{_log_tail(log)}")
            time.sleep(0.3)
        yield dict(url=f'http://127.0.0.1:{port}/', log=log)
    finally:
        try: os.killpg(proc.pid, signal.SIGTERM)      # the process group we started: voila and its kernels
        except ProcessLookupError: pass
        try: proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait(timeout=10)

@pytest.fixture(scope='module')
def page(voila_url):
    "The served app in headless Chromium, loaded, with the plane explorer's first picture shown"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], headless=True)
        try:
            pg = browser.new_page(viewport=dict(width=1300, height=2300))
            pg.set_default_timeout(PAGE_LOAD_S * 1000)
            t0 = time.monotonic()
            pg.goto(voila_url['url'], wait_until='domcontentloaded', timeout=PAGE_LOAD_S * 1000)
            pg.wait_for_selector('img.hg-plane-maps', state='attached', timeout=PAGE_LOAD_S * 1000)
            pg.hg = dict(voila_url, loaded_s=time.monotonic() - t0)
            yield pg
        finally: browser.close()

def _img_bytes(pg, sel):
    try: b64 = pg.evaluate(_IMG_BYTES, sel)
    except PlaywrightError: return None          # the blob was replaced (and revoked) while we fetched it
    return base64.b64decode(b64) if b64 else None

def _text(pg, sel) -> str:
    try: return pg.inner_text(sel, timeout=2000)
    except PlaywrightError: return '(none)'

def wait_for_image(pg, sel, differ_from=None, timeout=IMAGE_WAIT_S) -> bytes:
    "PNG bytes shown by the <img> `sel` once they are a PNG different from `differ_from`"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        b = _img_bytes(pg, sel)
        if b and b[:8] == PNG and b != differ_from: return b
        pg.wait_for_timeout(300)
    raise AssertionError(f"{sel} did not show a {'new ' if differ_from else ''}PNG within {timeout} s; "
                         f"status: {_text(pg, '.hg-status')!r}\nvoila log:\n{_log_tail(pg.hg['log'])}")

def press_slider(pg, sel, key='ArrowRight'):
    "Focus the noUiSlider handle of the slider widget `sel` and press an arrow key, as a keyboard user does"
    h = pg.locator(f'{sel} .noUi-handle').first
    h.scroll_into_view_if_needed(); h.focus(); pg.keyboard.press(key)

def test_plane_explorer_resolution_slider(page, tmp_path):
    first = wait_for_image(page, 'img.hg-plane-maps')
    assert '6x6 window' in _text(page, '.hg-status')
    readout = page.locator('.hg-resolution .widget-readout').first
    assert readout.inner_text().strip() == '6'
    press_slider(page, '.hg-resolution')
    assert readout.inner_text().strip() == '7'
    t0 = time.monotonic()
    new = wait_for_image(page, 'img.hg-plane-maps', differ_from=first)
    page.wait_for_function("() => document.querySelector('.hg-status').innerText.includes('7x7 window')", timeout=30_000)
    print(f"page + first window {page.hg['loaded_s']:.1f} s; new picture {time.monotonic() - t0:.1f} s after the key press "
          f"({len(first)} -> {len(new)} bytes)")
    # the geodesic between the points in the coordinate boxes: drawn on the maps, with its image strips below
    assert not page.locator('img.hg-plane-strips').is_visible()
    t0 = time.monotonic()
    page.locator('.hg-geodesic').click()
    wait_for_image(page, 'img.hg-plane-strips')
    wait_for_image(page, 'img.hg-plane-maps', differ_from=new)
    page.wait_for_function("() => document.querySelector('.hg-status').innerText.includes('geodesic')", timeout=30_000)
    assert page.locator('img.hg-plane-strips').is_visible()
    print(f"geodesic and strips {time.monotonic() - t0:.1f} s after the click; status: {_text(page, '.hg-status')!r}")
    page.screenshot(path=str(tmp_path / 'plane_explorer.png'), full_page=True)
    assert (tmp_path / 'plane_explorer.png').stat().st_size > 10_000

def test_phase_diagram_slice_slider(page, tmp_path):
    first = wait_for_image(page, 'img.hg-pd-slice')
    maps = wait_for_image(page, 'img.hg-pd-maps')
    readout = page.locator('.hg-slice-at .widget-readout').first
    before = readout.inner_text().strip()
    press_slider(page, '.hg-slice-at')
    assert readout.inner_text().strip() != before
    wait_for_image(page, 'img.hg-pd-slice', differ_from=first)
    wait_for_image(page, 'img.hg-pd-maps', differ_from=maps)     # the slice line moved on the maps too
    page.locator('img.hg-pd-maps').scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / 'phase_diagram.png'), full_page=True)
