"""The HTML report: structure checked on a string, then rendered by a real browser."""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from support import browser

from leakwatch._base.frames import Frame
from leakwatch._base.model import Leak
from leakwatch._report.html import render_html
from leakwatch._report.html_parts import MAX_POINTS, MAX_ROWS
from leakwatch._report.report import SESSION_SCHEMA, Report

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
HOSTILE = "<script>alert(1)</script> \"&'"
MIB = 1024 * 1024
HOVER_PROBE = """<script>
var svg = document.querySelector("svg.chart"), box = svg.getBoundingClientRect();
svg.dispatchEvent(new MouseEvent("mousemove", {clientX: box.left + box.width / 2,
                                               clientY: box.top + box.height / 2}));
document.body.dataset.hover = svg.querySelector(".tip").textContent;
</script></body>"""


def render(data: dict[str, Any]) -> str:
    out = io.StringIO()
    render_html(data, out)
    return out.getvalue()


def user_frames(name: str = "/srv/app/client.py") -> tuple[Frame, ...]:
    return (
        Frame("/srv/app/main.py", 12, "<module>", "main()"),
        Frame(name, 40, "connect", "s = socket.create_connection(addr)"),
        Frame("/usr/lib/python3.11/socket.py", 851, "create_connection", "sock = socket(af)"),
    )


def sample() -> dict[str, Any]:
    """A report as `leakwatch run` would save it: every section filled in."""
    report = Report(
        label=None,
        leaks=[
            Leak(
                "fd",
                "socket 127.0.0.1:50123 -> 127.0.0.1:8080 (fd 7)",
                count=2,
                origin=user_frames(),
                details={
                    "held_by": "app.client.POOL['main'] -> Conn._sock",
                    "group": "socket",
                    "items": ["socket fd 7", "socket fd 9"],
                },
            ),
            Leak(
                "thread",
                "'poller' (daemon), waiting in threading.Event.wait",
                origin=(Frame("/srv/app/poll.py", 12, "start", "threading.Thread(...).start()"),),
                details={
                    "stack": [
                        {
                            "filename": "/srv/app/poll.py",
                            "lineno": 30,
                            "function": "_loop",
                            "line": "self._wake.wait()",
                        },
                        {
                            "filename": "/usr/lib/python3.11/threading.py",
                            "lineno": 629,
                            "function": "wait",
                            "line": "signaled = self._cond.wait(timeout)",
                        },
                    ],
                    "daemon": True,
                },
            ),
            Leak("heap", "list grew by 1,000 objects per call", size=1536, origin=user_frames()),
        ],
        info=[Leak("heap", "dict retained after one call", size=5 * MIB)],
        ignored=[Leak("thread", "'asyncio_0' default executor")],
        known=[Leak("fd", "urllib3 pool socket")],
        baselined=[Leak("tempfile", "/tmp/old-cache.db")],
        notes=["tracemalloc was off for the first 2.0 s"],
        stats={"samples": 120, "overhead": 0.03},
    ).to_dict()
    n = 40
    report["program"] = {
        "argv": ["server.py", "--port", "8080"],
        "exit_status": 0,
        "duration": 83.4,
        "python": "3.11.7",
    }
    report["timeseries"] = {
        "t": [i * 0.5 for i in range(n)],
        "rss": [(40 + i * 1.5) * MIB for i in range(n)],
        "heap": [None if i < 4 else (10 + i) * MIB for i in range(n)],
        "fds": [5 + i // 4 for i in range(n)],
        "threads": [1 + (i > 10) for i in range(n)],
        "tasks": [0] * n,
        "children": [0, 1, 1, None, None, 1] + [0] * (n - 6),
    }
    report["growth"] = [
        {
            "filename": "/srv/app/cache.py",
            "lineno": 7,
            "function": "remember",
            "line": "CACHE[key] = value",
            "early_size": 2048,
            "late_size": 3 * MIB,
            "growth": 3 * MIB - 2048,
        },
    ]
    return report


def test_summary_header_and_leak_table() -> None:
    page = render(sample())
    assert "4 leaks: 2 fd, 1 thread, 1 heap" in page
    assert "python server.py --port 8080" in page
    assert "1 min 23 s" in page and "3.11.7" in page  # duration humanised, python shown
    assert page.count('<details class="leak"') == 3 + 4  # leaks plus one per info section
    assert page.count('<details class="leak" open>') == 1  # the first leak, shown at once
    assert "socket 127.0.0.1:50123 -&gt; 127.0.0.1:8080 (fd 7)" in page
    assert "client.py:40 in connect" in page  # innermost user frame, not socket.py
    assert "1.5 KiB" in page and "5.0 MiB" in page


def test_stack_emphasises_user_frames_and_shows_source() -> None:
    page = render(sample())
    assert re.search(r'<li class="lib"><span class="loc">/usr/lib/python3.11/socket.py:851', page)
    assert re.search(r'<li class="user here"><span class="loc">/srv/app/client.py:40', page)
    assert "s = socket.create_connection(addr)" in page
    assert "app.client.POOL[&#x27;main&#x27;] -&gt; Conn._sock" in page  # held_by
    assert "<h3>Current stack</h3>" in page and "self._wake.wait()" in page
    assert "<li>socket fd 9</li>" in page  # items of a grouped leak
    assert "<dt>daemon</dt><dd><code>true</code></dd>" in page  # other details as key/value


def test_every_user_string_is_escaped() -> None:
    report = Report(
        label=HOSTILE,
        leaks=[
            Leak(
                "fd",
                HOSTILE,
                origin=(Frame(HOSTILE, 1, HOSTILE, HOSTILE),),
                details={"held_by": HOSTILE, HOSTILE: HOSTILE, "items": [HOSTILE]},
            )
        ],
        notes=[HOSTILE],
    ).to_dict()
    report["program"] = {"argv": [HOSTILE], "exit_status": 1, "python": HOSTILE}
    report["growth"] = [{"filename": HOSTILE, "lineno": 1, "function": HOSTILE, "line": HOSTILE}]
    report["timeseries"] = {HOSTILE: [1, 2, 3]}
    page = render(report)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&amp;&#x27;" in page
    assert page.count("<script") == 2  # only the page's own two scripts
    assert page.count("&lt;script&gt;alert(1)") >= 10


def test_one_svg_per_series_with_humanised_axes() -> None:
    page = render(sample())
    assert page.count("<svg") == 6
    for title in ("RSS", "Heap (traced)", "File descriptors", "Threads", "Asyncio tasks"):
        assert f">{title}</text>" in page
    # Round ticks on both axes; the last value and the peak above the plot.
    rss = page[page.index(">RSS<") :].split("</svg>")[0]
    assert ">last 98.5 MiB · peak 98.5 MiB</text>" in rss
    assert re.findall(r'class="yl"[^>]*>([^<]*)<', rss) == ["0 B", "50.0 MiB", "100.0 MiB"]
    fds = page[page.index(">File descriptors<") :].split("</svg>")[0]
    assert re.findall(r'class="yl"[^>]*>([^<]*)<', fds) == ["5", "10", "15"]  # plain integers
    assert re.findall(r'class="xl"[^>]*>([^<]*)<', fds) == ["0 s", "5 s", "10 s", "15 s", "19.5 s"]
    # The children series has a gap of nulls, so its line is drawn in two pieces.
    children = page[page.index(">Child processes<") :].split("</svg>")[0]
    assert children.count("<polyline") == 2

    only_two = render({"timeseries": {"t": [0, 1], "rss": [MIB, 2 * MIB], "fds": [3, 4]}})
    assert only_two.count("<svg") == 2 and only_two.count("<polyline") == 2


def test_info_sections_are_collapsed_and_notes_shown() -> None:
    page = render(sample())
    for key, title in (
        ("info", "Information only"),
        ("ignored", "Ignored"),
        ("known", "Known library leaks"),
        ("baselined", "Baselined"),
    ):
        section = re.search(
            rf'<section class="extra" id="{key}"><details class="card fold">'
            rf"<summary>{title} ",
            page,
        )
        assert section, key
    assert page.count(" open>") == 1  # only the first leak, not a section
    assert "tracemalloc was off for the first 2.0 s" in page
    assert "Growing allocation sites" in page and "+3.0 MiB" in page and "2.0 KiB" in page
    assert "<dt>samples</dt>" in page


def test_empty_report_says_no_leaks() -> None:
    page = render(Report().to_dict())
    assert "No leaks found" in page and 'class="summary ok"' in page
    assert "<svg" not in page and "Growing" not in page and 'id="info"' not in page
    assert render({}).count("No leaks found") == 2  # summary and table, from nothing at all


def test_bad_and_partial_data_does_not_break_the_page() -> None:
    page = render(
        {
            "leaks": [{"kind": "weird", "title": "no origin"}, "not a leak", {"count": "x"}],
            "program": {"argv": ["a.py"], "exit_status": None, "duration": "slow"},
            "timeseries": {
                "t": [0, 1, 2],
                "rss": [None, None, None],
                "fds": [1, "x", 3],
                "tasks": [1, 2],
            },  # tasks has the wrong length: plotted by index
            "growth": ["nope"],
            "notes": "not a list",
            "stats": [],
        }
    )
    assert "Creation was not seen" in page and "k-other" in page
    assert page.count("<svg") == 3 and "no samples" in page
    assert "1 at sample 1|2 at sample 2" in page  # the series plotted by index
    assert "Growing" not in page and "Duration" not in page
    assert "<dt>Exit status</dt><dd>—</dd>" in page


def test_huge_lists_are_capped() -> None:
    leaks = [
        Leak("fd", f"pipe {i}", details={"items": [f"x{j}" for j in range(80)]})
        for i in range(MAX_ROWS + 50)
    ]
    n = 10 * MAX_POINTS
    page = render(
        {
            **Report(leaks=leaks).to_dict(),
            "timeseries": {"t": list(range(n)), "fds": [i % 97 for i in range(n)]},
        }
    )
    assert page.count('<details class="leak"') == MAX_ROWS
    assert "+50 more leaks not shown" in page and "+30 more items not shown" in page
    polyline = re.search(r'<polyline[^>]*points="([^"]*)"', page)
    assert polyline and len(polyline.group(1).split()) <= MAX_POINTS
    assert "peak 96</text>" in page  # the peak survives the thinning
    assert re.search(r'class="line"[^>]*points="[^"]*,54\.3 ', page)  # and is drawn


def test_session_schema_renders_a_table_per_test() -> None:
    data = {
        "schema": SESSION_SCHEMA,
        "tests": [
            {
                "nodeid": "tests/test_api.py::test_upload",
                "leaks": [
                    Leak("fd", "socket fd 7", origin=user_frames()).to_dict(),
                    Leak("thread", "'poller'").to_dict(),
                ],
            },
            {"nodeid": "tests/test_api.py::test_clean", "leaks": []},
            {
                "nodeid": "db",
                "phase": "teardown",
                "fixture": "db",
                "scope": "session",
                "leaks": [Leak("fd", "socket fd 9", origin=user_frames()).to_dict()],
            },
        ],
    }
    page = render(data)
    # The session JSON lists findings, not every test: no "of N tests".
    assert ">3 leaks: 2 fd, 1 thread in 1 test and 1 fixture</p>" in page
    assert page.count('<section class="test">') == 3
    assert "<code>tests/test_api.py::test_upload</code>" in page
    assert '<code>db</code><span class="phase">session fixture &#x27;db&#x27;</span>' in page
    assert page.count("No leaks found") == 1  # the clean test's tag
    # Those that leaked come first, the clean one last.
    assert page.index("test_upload") < page.index("<code>db</code>") < page.index("test_clean")


def test_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    if not browser.available():
        pytest.skip(f"{browser.CHROMIUM} not found; run scripts/ensure-chromium")
    page = tmp_path / "report.html"
    page.write_text(render(sample()), encoding="utf-8")

    png = ARTIFACTS / "html-report.png"
    png.unlink(missing_ok=True)
    shot = browser.screenshot(page, png)
    assert shot.returncode == 0, shot.stderr[-2000:]
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    assert png.stat().st_size > 50_000  # a blank page of this size is a few kB

    dom = browser.dump_dom(page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body and 'data-ok="1"' in body.group(0), "the page's script did not run to its end"
    assert "data-jserror" not in body.group(0)
    assert dom.stdout.count("<polyline") == 7  # six series, one of them in two pieces
    assert dom.console == [], dom.console  # no errors, no CSP violations, no logging

    # Hover: move a synthetic mouse over the middle of the RSS chart and read the
    # value the page's script shows there.
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", HOVER_PROBE), "utf-8")
    hovered = browser.dump_dom(probe)
    shown = re.search(r'data-hover="([^"]*)"', hovered.stdout)
    assert shown and re.fullmatch(r"\d+\.\d MiB at \d+(\.\d+)? s", shown.group(1)), shown
    assert hovered.console == [], hovered.console
