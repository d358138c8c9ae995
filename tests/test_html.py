import html
import json
import re
import shutil
import subprocess

import pytest


@pytest.fixture(scope="module")
def page(tiny_report):
    return tiny_report[2]


@pytest.mark.exhaustive
def test_index_holds_every_plot_and_the_settings(page):
    text = (page / "index.html").read_text()
    pngs = sorted(p.name for p in page.glob("*.png"))
    assert len([p for p in pngs if not p.startswith("probe_")]) == 7
    # and one per registered probe with a figure: a gated cell's gate activity too
    assert {"probe_grad_time_profile.png", "probe_gates.png"} <= set(pngs)
    assert text.count("data:image/png;base64,") == len(pngs)
    assert "sampling gap 0.01003" in text and "as in the seed post" in text
    assert "Lowest test MAE:" in text and "<table" in text


@pytest.mark.exhaustive
def test_index_renders_in_headless_chromium(page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed here; .ci/run installs it so CI runs this test")
    shot = tmp_path / "page.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1400,2400", (page / "index.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 2400 and pixels.shape[1] == 1400
    # A rendered page has text and plots: many distinct colours, not a blank sheet.
    assert pixels[..., :3].std() > 0.05


@pytest.mark.exhaustive
def test_every_table_fits_a_1400_px_page(page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed here; .ci/run installs it so CI runs this test")
    # The page, with a script that records each table's width against the width it is given.
    probe = ("<script>window.addEventListener('load', () => { document.body.dataset.tables = "
             "JSON.stringify([...document.querySelectorAll('table')].map(t => "
             "[t.getBoundingClientRect().width, t.parentElement.clientWidth])); });</script>")
    measured = tmp_path / "index.html"
    measured.write_text((page / "index.html").read_text().replace("</body>", probe + "</body>"))
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1400,2400", "--virtual-time-budget=5000", "--dump-dom", measured.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    found = re.search(r'data-tables="([^"]*)"', dom)
    assert found, "the page's script did not run"
    widths = json.loads(html.unescape(found.group(1)))
    assert widths and all(width <= room + 1 for width, room in widths), widths
