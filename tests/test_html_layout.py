"""The HTML report laid out by a real browser: every chart label inside its SVG, no
two labels on top of each other, the page no wider than the window; and what the
page says where a reader used to be left guessing.

Chromium lays the pages out; a probe script measures each chart's text boxes
(``getBBox``, in the SVG's own units) and writes what it found on ``<body>``,
read back from ``--dump-dom``.  Screenshots land in ``artifacts/`` to be looked at.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support import browser
from support.cli import EXAMPLES, EXIT_LEAKS, leakwatch, script

from leakwatch._base.frames import Frame
from leakwatch._base.model import Leak
from leakwatch._report.html import render_html
from leakwatch._report.report import Report

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
MIB = 1024 * 1024

# Every chart's text boxes: outside the viewBox, or overlapping another; and the
# page's width against the window's.
LAYOUT_PROBE = """<script>
var problems = [], charts = document.querySelectorAll("svg.chart");
charts.forEach(function (svg, n) {
  var vb = svg.viewBox.baseVal, name = svg.getAttribute("aria-label") + " #" + n;
  var boxes = [];
  svg.querySelectorAll("text").forEach(function (t) {
    if (!t.textContent) return;
    var b = t.getBBox();
    if (b.x < 0 || b.y < 0 || b.x + b.width > vb.width || b.y + b.height > vb.height)
      problems.push(name + ": '" + t.textContent + "' outside the chart");
    boxes.push([t.textContent, b]);
  });
  for (var i = 0; i < boxes.length; i++) for (var j = i + 1; j < boxes.length; j++) {
    var a = boxes[i][1], c = boxes[j][1];
    if (a.x < c.x + c.width && c.x < a.x + a.width && a.y < c.y + c.height && c.y < a.y + a.height)
      problems.push(name + ": '" + boxes[i][0] + "' overlaps '" + boxes[j][0] + "'");
  }
});
if (document.documentElement.scrollWidth > window.innerWidth)
  problems.push("page wider than the window: " + document.documentElement.scrollWidth);
document.body.dataset.charts = String(charts.length);
document.body.dataset.layout = JSON.stringify(problems);
</script></body>"""


def render(data: dict[str, Any]) -> str:
    out = io.StringIO()
    render_html(data, out)
    return out.getvalue()


def big_run() -> dict[str, Any]:
    """A long run of a big program: wide labels, a KiB-sized traced heap, all series."""
    n = 300
    data = Report(
        leaks=[Leak("heap", "heap keeps growing", size=9 * MIB)],
        stats={"trace_mode": "windows", "trace_windows": [[1.0, 2.0], [250.5, 251.5]]},
    ).to_dict()
    data["program"] = {"argv": ["server.py"], "exit_status": 0, "duration": 299.0}
    data["timeseries"] = {
        "t": [float(i) for i in range(n)],
        "rss": [(150 + i * 0.2) * MIB for i in range(n)],
        "heap": [None if i % 50 > 3 else 3000 + 40 * i for i in range(n)],
        "blocks": [100_000 + 37 * i for i in range(n)],
        "native": [(180.25 + i * 0.07) * MIB for i in range(n)],
        "fds": [5 + i // 40 for i in range(n)],
        "threads": [1] * n,
        "tasks": [0] * n,
        "children": [0] * n,
    }
    data["growth"] = [
        {
            "filename": "/srv/app/cache.py",
            "lineno": 7,
            "function": "remember",
            "line": "CACHE[key] = value",
            "early_size": 11_544_951,
            "late_size": 8_493_465,
            "growth": 8_493_465,
        }
    ]
    return data


def check_report() -> dict[str, Any]:
    series = [50_057 * (i + 1) for i in range(8)]
    origin = (Frame("/srv/app/handler.py", 4, "handle", "CACHE.append(bytearray(50_000))"),)
    leak = Leak(
        "heap",
        "heap grows 48.9 KiB per call",
        size=series[-1],
        origin=origin,
        details={"growth_per_call": 50_057, "series": series, "blocks": 17, "types": {}},
    )
    return Report(leaks=[leak], label="handle").to_dict()


def layout(page: Path, name: str) -> tuple[int, list[str]]:
    """(charts laid out, layout problems) of ``page`` in Chromium; a screenshot too."""
    shot = browser.screenshot(page, ARTIFACTS / f"{name}.png", height=2600)
    assert shot.returncode == 0, shot.stderr[-2000:]
    probe = page.with_name(f"{name}-probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE), "utf-8")
    dom = browser.dump_dom(probe)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.console == [], dom.console
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body and 'data-ok="1"' in body.group(1), "the page's script did not run to its end"
    charts = re.search(r'data-charts="(\d+)"', body.group(1))
    found = re.search(r'data-layout="([^"]*)"', body.group(1))
    assert charts and found, body.group(1)
    problems = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return int(charts.group(1)), problems


@pytest.fixture
def chromium() -> None:
    if not browser.available():
        pytest.skip(f"{browser.CHROMIUM} not found; run scripts/ensure-chromium")


@pytest.mark.usefixtures("chromium")
def test_charts_of_a_big_run_keep_their_labels_apart_and_inside(tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    page.write_text(render(big_run()), encoding="utf-8")
    charts, problems = layout(page, "html-layout-big-run")
    assert charts == 8 and problems == []


@pytest.mark.usefixtures("chromium")
def test_a_real_run_page_lays_out_cleanly(tmp_path: Path) -> None:
    ran = leakwatch(
        "run",
        "-q",
        "--interval",
        "0.2",
        "--trace-window",
        "0.3",
        "--html",
        "run.html",
        EXAMPLES / "leaky_heap.py",
        "2.5",
        cwd=tmp_path,
    )
    assert ran.returncode == EXIT_LEAKS, ran.stderr
    charts, problems = layout(tmp_path / "run.html", "html-layout-run")
    assert charts >= 8 and problems == []


@pytest.mark.usefixtures("chromium")
def test_a_check_report_plots_its_calls_cleanly(tmp_path: Path) -> None:
    script(
        tmp_path,
        "calls.py",
        "import json, leakwatch\nCACHE = []\n"
        "def handle():\n    CACHE.append(bytearray(50_000))\n"
        "r = leakwatch.check(handle, repeat=8, on_leak='report')\n"
        "json.dump(r.to_dict(), open('check.json', 'w'))\n",
    )
    ran = leakwatch("run", "-q", "calls.py", cwd=tmp_path)
    assert ran.returncode in (0, EXIT_LEAKS), ran.stderr
    shown = leakwatch("report", "check.json", "--html", "check.html", cwd=tmp_path)
    assert shown.returncode == EXIT_LEAKS, shown.stderr
    html = (tmp_path / "check.html").read_text(encoding="utf-8")
    assert "<h3>Per call</h3>" in html and ">Kept after each call</text>" in html
    charts, problems = layout(tmp_path / "check.html", "html-layout-check")
    assert charts == 1 and problems == []


# -- what the page says ------------------------------------------------------------------------


def test_growth_table_says_what_each_window_held() -> None:
    page = render(big_run())
    table = page[page.index("Growing allocation sites") :]
    assert '<th class="num">Early window</th><th class="num">Late window</th>' in table
    assert '<th class="num">Growth (lower bound)</th>' in table
    assert "during the first trace window (1 s to 2 s) and still held when it closed" in table
    assert "the same for the last trace window (4 min 10 s to 4 min 12 s)" in table
    assert "not late minus early" in table
    assert ">11.0 MiB</td>" in table and ">+8.1 MiB</td>" in table
    full = render({**big_run(), "stats": {"trace_mode": "all"}})
    assert '<th class="num">Held at the end</th>' in full and "growth: the difference" in full


def test_kib_sized_heap_is_shown_in_kib() -> None:
    page = render(big_run())
    heap = page[page.index('aria-label="Heap (traced)"') :].split("</svg>")[0]
    assert "0.0 MiB" not in heap
    assert re.search(r">last \d+\.\d KiB · peak \d+\.\d KiB</text>", heap), heap[:400]


def test_every_chart_says_what_it_measures() -> None:
    page = render(big_run())
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", page)
    assert len(captions) == 8 and all(len(c) > 20 for c in captions)
    assert ">Heap blocks (allocated)</text>" in page and "sys.getallocatedblocks()" in page


def test_details_are_readable() -> None:
    page = render(check_report())
    details = page[page.index("<h3>Details</h3>") :].split("</dl>")[0]
    assert "<dt>growth per call</dt><dd><code>48.9 KiB</code></dd>" in details
    assert "<dt>series</dt><dd><code>48.9 KiB, 97.8 KiB," in details
    assert "types" not in details and "{}" not in details  # nothing to say: left out
    assert "<dt>blocks</dt><dd><code>17</code></dd>" in details


def test_a_run_that_raised_is_not_judged_not_red(tmp_path: Path) -> None:
    script(tmp_path, "boom.py", "import socket\nKEEP = [socket.socket() for _ in range(11)]\n1/0\n")
    ran = leakwatch("run", "-q", "--html", "boom.html", "boom.py", cwd=tmp_path)
    assert ran.returncode == 1
    page = (tmp_path / "boom.html").read_text(encoding="utf-8")
    badge = re.search(r'<p class="summary ([a-z]+)">([^<]*)</p>', page)
    assert badge and badge.groups() == (
        "unjudged",
        "Not judged: the code raised · 11 leftovers: 11 fd",
    )
    assert 'class="summary bad"' not in page and "<h2>Leftovers (not judged)</h2>" in page
