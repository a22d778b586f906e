"""The report in a real headless browser: nothing overflows at 800, 1440 and 1920 px, and the first screen answers.

Chromium (or Chrome) renders a copy of the tiny study's report with a script that measures the
page once plotly has drawn; where no such browser is installed the test says so and skips.
"""

import json
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MEASURE = """<script>window.addEventListener('load', () => setTimeout(() => {
  const box = e => e.getBoundingClientRect(), figures = [...document.querySelectorAll('.js-plotly-plot')];
  const wide = [...document.querySelectorAll('body *')].filter(e => box(e).right > innerWidth + 1 && !e.closest('.scroll'));
  const out = {scroll_width: document.documentElement.scrollWidth, answers_bottom: box(document.querySelector('ul.answers')).bottom,
    map_top: box(figures[0]).top, widths: figures.map(f => Math.round(box(f).width)),
    lefts: figures.map(f => Math.round(box(f).left)), pre: document.querySelectorAll('pre').length,
    wide: wide.map(e => e.tagName + ': ' + (e.textContent || '').slice(0, 60))};
  const p = document.createElement('output'); p.id = 'measured'; p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
}, 300));</script>"""


def _measure(browser: str, page, width: int, height: int = 900) -> dict:
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={width},{height}", "--virtual-time-budget=10000", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<output id="measured">([^<]*)</output>', done.stdout)
    assert found, done.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_the_report_fits_800_1440_and_1920_px_and_its_first_screen_holds_the_answer_and_the_map(tiny_study, tmp_path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no headless Chromium or Chrome on this machine (apt-get install chromium)")
    from analysis import open_study

    report = open_study(tiny_study[1].path).report(tmp_path / "report.html")
    page = tmp_path / "measured.html"
    page.write_text(report.read_text().replace("</body>", MEASURE + "</body>"))
    for width in (800, 1400, 1440, 1920):
        seen = _measure(browser, page, width)
        assert seen["scroll_width"] <= width and seen["wide"] == [], (width, seen)  # nothing cut or overflowing
        assert len(set(seen["widths"])) == 1 and len(set(seen["lefts"])) == 1, (width, seen)  # one plot width
        assert seen["pre"] == 1  # the collapsed config only: every table is HTML
    first = _measure(browser, page, 1440)
    assert first["answers_bottom"] <= 900 and first["map_top"] < 900 - 200, first  # the answer, then the map
