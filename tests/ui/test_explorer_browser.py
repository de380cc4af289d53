"""Real-browser test of the hessgeo explorers: serve `explorer_app.ipynb` with voila on 127.0.0.1, drive it with
Playwright in Debian's Chromium as a user would (slider keys, buttons, clicks on the picture, typing a model path),
wait for the pictures to change, and save a screenshot after each step.

Screenshots go to `$HG_UI_SHOTS` (default: the test's temporary folder). Skips (with the reason) when chromium,
voila, playwright, ipykernel or ipyevents is missing; `.ci/run` installs them. Never runs `playwright install`: the
browser is the system's `chromium`."""
import base64, os, re, shutil, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

APP = Path(__file__).with_name('explorer_app.ipynb')
PNG = b'\x89PNG\r\n\x1a\n'
SERVER_START_S, PAGE_LOAD_S, IMAGE_WAIT_S = 90, 180, 150

for _mod in ('voila', 'playwright', 'ipykernel', 'ipyevents'):
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
def shots(tmp_path_factory) -> Path:
    "Folder for the screenshots of every step"
    d = Path(os.environ['HG_UI_SHOTS']) if os.environ.get('HG_UI_SHOTS') else tmp_path_factory.mktemp('shots')
    d.mkdir(parents=True, exist_ok=True)
    return d

@pytest.fixture(scope='module')
def voila_url(tmp_path_factory):
    "A voila server for the app notebook on 127.0.0.1 at a free port; killed (with its kernels) at teardown"
    d = tmp_path_factory.mktemp('voila')
    port, log = _free_port(), d / 'voila.log'
    env = dict(os.environ, MPLBACKEND='Agg',
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
            pg = browser.new_page(viewport=dict(width=1400, height=2600))
            pg.set_default_timeout(PAGE_LOAD_S * 1000)
            t0 = time.monotonic()
            pg.goto(voila_url['url'], wait_until='domcontentloaded', timeout=PAGE_LOAD_S * 1000)
            pg.wait_for_selector('img.hg-plane-maps', state='attached', timeout=PAGE_LOAD_S * 1000)
            pg.wait_for_selector('img.hg-pd-slice', state='attached', timeout=PAGE_LOAD_S * 1000)
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

def wait_for_text(pg, sel, needle, timeout=IMAGE_WAIT_S) -> str:
    "The text of `sel` once it contains `needle`"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        t = _text(pg, sel)
        if needle in t: return t
        pg.wait_for_timeout(300)
    raise AssertionError(f"{sel} did not say {needle!r} within {timeout} s: {_text(pg, sel)!r}\nvoila log:\n{_log_tail(pg.hg['log'])}")

def press_slider(pg, sel, key='ArrowRight'):
    "Focus the noUiSlider handle of the slider widget `sel` and press an arrow key, as a keyboard user does"
    h = pg.locator(f'{sel} .noUi-handle').first
    h.scroll_into_view_if_needed(); h.focus(); pg.keyboard.press(key)

def box_value(pg, cls) -> float:
    "The number in the FloatText widget with class `cls`"
    return float(pg.locator(f'.{cls} input').first.input_value())

def shot(pg, shots, name) -> Path:
    "A full-page screenshot of this step"
    p = shots / f'{name}.png'
    pg.screenshot(path=str(p), full_page=True)
    assert p.stat().st_size > 10_000
    return p

def test_plane_explorer_zoom_geodesic_click_and_error(page, shots):
    first = wait_for_image(page, 'img.hg-plane-maps')
    assert '6x6 window' in _text(page, '.hg-status')
    shot(page, shots, '01_plane_first_window')
    # the zoom slider: one arrow key is one 1-2-5 step (1x -> 2x); P and Q move to 20% / 80% of the new window
    readout = page.locator('.hg-zoom .widget-readout').first
    assert readout.inner_text().strip() == '1x'
    press_slider(page, '.hg-zoom')
    assert readout.inner_text().strip() == '2x'
    zoomed = wait_for_image(page, 'img.hg-plane-maps', differ_from=first)
    wait_for_text(page, '.hg-status', '6x6 window computed')
    lo, hi = 0.25, 0.75                                  # centre 0.5, side 1/2
    pq = [box_value(page, c) for c in ('hg-pa', 'hg-pb', 'hg-qa', 'hg-qb')]
    assert all(lo <= v <= hi for v in pq), pq
    assert abs(pq[0] - 0.35) < 1e-9 and abs(pq[2] - 0.65) < 1e-9, pq
    shot(page, shots, '02_plane_zoom_2x')
    # Geodesic works in the zoomed window: strips appear, the status gives both lengths and the difference in percent
    assert not page.locator('img.hg-plane-strips').is_visible()
    page.locator('.hg-geodesic').click()
    wait_for_image(page, 'img.hg-plane-strips')
    with_paths = wait_for_image(page, 'img.hg-plane-maps', differ_from=zoomed)
    status = wait_for_text(page, '.hg-status', 'shorter')
    assert re.search(r'geodesic [\d.e+-]+ vs straight line [\d.e+-]+', status), status
    shot(page, shots, '03_plane_geodesic_after_zoom')
    # clicking the picture (ipyevents): the first click sets P, the second Q and draws the paths between them
    img = page.locator('img.hg-plane-maps')
    box = img.bounding_box()
    img.click(position=dict(x=0.22 * box['width'], y=0.40 * box['height']))
    wait_for_text(page, '.hg-status', 'now click Q', timeout=30)
    img.click(position=dict(x=0.42 * box['width'], y=0.62 * box['height']))
    clicked = wait_for_image(page, 'img.hg-plane-maps', differ_from=with_paths)
    wait_for_text(page, '.hg-status', 'shorter')
    pq2 = [box_value(page, c) for c in ('hg-pa', 'hg-pb', 'hg-qa', 'hg-qb')]
    assert pq2 != pq and all(lo <= v <= hi for v in pq2), pq2
    shot(page, shots, '04_plane_points_by_clicking')
    # a bad model path: the error is shown and the old picture is marked stale
    model = page.locator('.hg-model input').first
    model.fill('/no/such/model'); model.press('Enter')
    wait_for_text(page, '.hg-status', 'does not exist')
    wait_for_text(page, '.hg-stale-note', 'stale')
    assert 'hg-stale' in (img.get_attribute('class') or '')
    assert _img_bytes(page, 'img.hg-plane-maps') == clicked        # the last window that worked stays on the page
    shot(page, shots, '05_plane_bad_model_stale')

def test_phase_diagram_slice_toggle_lands_mid_grid(page, shots):
    slice0 = wait_for_image(page, 'img.hg-pd-slice')
    maps0 = wait_for_image(page, 'img.hg-pd-maps')
    readout = page.locator('.hg-slice-at .widget-readout').first
    at = lambda: float(readout.inner_text().strip())
    assert abs(at()) < 1e-9, at()                                  # slices along T at the middle H cell
    page.locator('.hg-pd-maps').scroll_into_view_if_needed()
    shot(page, shots, '06_phase_diagram_along_T')
    page.locator('.hg-slice-axis button', has_text='slice along H').click()
    wait_for_image(page, 'img.hg-pd-slice', differ_from=slice0)
    wait_for_image(page, 'img.hg-pd-maps', differ_from=maps0)
    page.wait_for_timeout(1500)                                    # anything the browser would send back has arrived
    assert abs(at() - 2.55) < 1e-9, at()                          # the middle of T in [1, 4] x 30 cells, not its edge 1.05
    shot(page, shots, '07_phase_diagram_along_H_mid_grid')
    before = wait_for_image(page, 'img.hg-pd-slice')
    press_slider(page, '.hg-slice-at')
    assert abs(at() - 2.65) < 1e-9, at()
    wait_for_image(page, 'img.hg-pd-slice', differ_from=before)
    shot(page, shots, '08_phase_diagram_slider_moved')
