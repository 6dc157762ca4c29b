"""Open the HTML report in headless Chromium and check that every figure decodes and shows the
same pixels Pillow reads from the PNG, and that hostile user text stays inert text.

Needs the Debian packages `chromium` and `chromium-driver` (.ci/run installs them as root)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess

import pytest
from PIL import Image

from corpustune.report import write_report
from corpustune.report.html import CSP
from tests.report_sample import sample_report_data

DATA_URI = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')

# Runs after load: for every <img>, its decoded size and how many pixels are not near-white,
# counted by drawing it on a canvas; plus the title, which hostile text tries to overwrite.
PROBE = """<pre id="probe"></pre><script>
window.addEventListener("load", () => {
  const images = Array.from(document.images).map((img) => {
    if (!img.naturalWidth) return {complete: img.complete, width: 0, height: 0, inked: 0};
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.min(data[i], data[i + 1], data[i + 2]) < 200) inked++;
    }
    return {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight, inked: inked};
  });
  document.getElementById("probe").textContent = JSON.stringify({title: document.title, images: images});
});
</script>"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def inked_pixels(png: bytes) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(1 for pixel in image.getdata() if min(pixel) < 200)


def test_report_images_render_in_headless_chromium(tmp_path):
    browser = find_chromium()
    if browser is None:
        pytest.skip("chromium is not installed; install it with: apt-get install -y chromium chromium-driver")
    paths = write_report(tmp_path / "run", sample_report_data())
    page = paths.html.read_text(encoding="utf-8")
    pngs = [base64.b64decode(match) for match in DATA_URI.findall(page)]
    assert len(pngs) == 2
    # Only the script rule is loosened for the probe; the image rule stays as shipped.
    probe_csp = CSP.replace("script-src 'none'", "script-src 'unsafe-inline'")
    probed = page.replace(CSP, probe_csp).replace("</body>", PROBE + "</body>")
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(probed, encoding="utf-8")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
               probe_page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match and match.group(1), f"probe did not run (exit {result.returncode}):\n{result.stderr[-2000:]}"
    probe = json.loads(html.unescape(match.group(1)))

    assert probe["title"] == "corpustune run report: scifact"  # the hostile text did not run
    assert len(probe["images"]) == len(pngs)  # and created no <img> of its own
    for shown, png in zip(probe["images"], pngs):
        expected = Image.open(io.BytesIO(png))
        assert shown["complete"] and (shown["width"], shown["height"]) == expected.size
        reference = inked_pixels(png)
        assert reference > 0.005 * expected.size[0] * expected.size[1]
        # Colour management may shift a few anti-aliased edge pixels across the threshold.
        assert abs(shown["inked"] - reference) <= 0.01 * reference, (shown["inked"], reference)
