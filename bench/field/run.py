"""Field trial: an outside project's own test suite, plain and under leakwatch, test by test.

Usage::

    python bench/field/run.py SUITE [--modes plain,default,all] [--runs N]
    python bench/field/run.py all --modes plain,default

``SUITE`` names a recipe ``bench/field/<SUITE>.toml`` (``all``: every recipe,
one after another).  For each suite the runner

1. downloads the project's sdist once (``pip download --no-binary :all:``)
   and unpacks it under ``artifacts/field/<suite>/`` (gitignored: no suite's
   code is ever committed);
2. makes a venv per suite (kept and reused while the recipe is unchanged)
   with the recipe's test dependencies and this checkout of leakwatch
   (``pip install -e``);
3. runs the suite in each mode, in one invocation, so the times compare:

   =========  ================================================
   plain      ``pytest -p no:leakwatch``
   default    ``pytest --leakwatch`` (default kinds)
   all        ``pytest --leakwatch --leakwatch-kinds=all``
   =========  ================================================

   each with ``-p no:cacheprovider``, ``--junitxml`` and, under leakwatch,
   ``--leakwatch-json``; wall and CPU time of each pytest process are kept;
4. compares outcomes test by test against plain (passed, failed, error in
   setup/call/teardown, skipped, xfailed) and writes
   ``artifacts/field/<suite>/summary.md`` and ``summary.json``: counts per
   mode, overhead ratios to plain, every test whose outcome changed with
   what leakwatch reported for it, and (``--runs 2``) the tests whose
   outcome or findings differ between two runs of one mode.

Only changes count: a test that fails plain and fails the same way under
leakwatch is not listed.  Stdlib only; Python 3.11+ (``tomllib``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tarfile
import time
import venv
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/, for _timing
from _timing import DROPPED_ENV as SWITCHES

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ARTIFACTS = REPO / "artifacts" / "field"
SDISTS = ARTIFACTS / "sdists"

COMMON = ("-p", "no:cacheprovider", "-q", "-rfE", "--color=no")
MODES: dict[str, tuple[str, ...]] = {
    "plain": ("-p", "no:leakwatch"),
    "default": ("--leakwatch",),
    "all": ("--leakwatch", "--leakwatch-kinds=all"),
}
#: Environment variables that would switch a plugin on (the counting
#: benchmarks' list) or change how a suite's own venv runs it.
DROPPED_ENV = (*SWITCHES, "PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS", "VIRTUAL_ENV")


# -- recipes ----------------------------------------------------------------------------


@dataclass
class Recipe:
    """One suite: what to download, install and run.  See bench/README.md."""

    suite: str
    project: str
    version: str
    fallback: str = ""  # a pip specifier tried when ``version`` is not on the registry
    extras: str = ""  # extras of the project itself, e.g. "brotli,http2"
    deps: list[str] = field(default_factory=list)
    editable: bool = False  # install the unpacked sdist with -e (src layouts that need it)
    paths: list[str] = field(default_factory=lambda: ["tests"])
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    deselect: dict[str, str] = field(default_factory=dict)  # nodeid -> why it fails here
    timeout: int = 1500  # seconds for one pytest run

    @classmethod
    def load(cls, suite: str) -> Recipe:
        path = HERE / f"{suite}.toml"
        if not path.exists():
            known = ", ".join(sorted(recipe_names()))
            sys.exit(f"no recipe {path.relative_to(REPO)}; known suites: {known}")
        data = tomllib.loads(path.read_text())
        return cls(suite=suite, **data)

    def fingerprint(self) -> str:
        """What the venv depends on: a changed recipe or checkout reinstalls."""
        text = json.dumps([self.project, self.version, self.extras, self.deps, str(REPO)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipe_names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.toml"))


# -- fetching and installing --------------------------------------------------------------


def pip(python: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def fetch_sdist(recipe: Recipe) -> Path:
    """The sdist in ``artifacts/field/sdists``: the pinned version, else the fallback."""
    SDISTS.mkdir(parents=True, exist_ok=True)
    base = ("download", "--no-binary", ":all:", "--no-deps", "-d", str(SDISTS))
    for spec in (f"=={recipe.version}", recipe.fallback):
        if not spec:
            continue
        found = find_sdist(recipe.project, recipe.version) if spec.startswith("==") else None
        if found:
            return found
        print(f"[{recipe.suite}] pip download {recipe.project}{spec}", flush=True)
        before = set(SDISTS.iterdir())
        done = pip(sys.executable, *base, f"{recipe.project}{spec}")
        if done.returncode == 0:
            new = [p for p in set(SDISTS.iterdir()) - before if p.name.endswith(".tar.gz")]
            got = new[0] if new else find_sdist(recipe.project, recipe.version)
            if got:
                return got
            # already present under another version: pip reports the file it kept
            saved = re.findall(r"(?:Saved|File was already downloaded) (\S+)", done.stdout)
            if saved:
                return Path(saved[-1])
        print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "", flush=True)
    sys.exit(f"[{recipe.suite}] cannot download {recipe.project} {recipe.version}")


def find_sdist(project: str, version: str) -> Path | None:
    for name in (project, project.replace("-", "_"), project.replace("_", "-")):
        path = SDISTS / f"{name}-{version}.tar.gz"
        if path.exists():
            return path
    return None


def unpack(recipe: Recipe, sdist: Path) -> Path:
    """The unpacked sdist, once, under ``artifacts/field/<suite>/``."""
    where = ARTIFACTS / recipe.suite
    root = where / sdist.name.removesuffix(".tar.gz")
    if not root.is_dir():
        where.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            tar.extractall(where, filter="data")
    return root


def make_venv(recipe: Recipe, source: Path) -> Path:
    """The suite's venv with its test dependencies and leakwatch (editable)."""
    where = ARTIFACTS / recipe.suite / "venv"
    python = where / "bin" / "python"
    stamp = where / ".field-installed"
    want = f"{recipe.fingerprint()} {source.name}\n"
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    if not python.exists():
        print(f"[{recipe.suite}] creating {where.relative_to(REPO)}", flush=True)
        venv.create(where, with_pip=True)
    target = f"{source}[{recipe.extras}]" if recipe.extras else str(source)
    project = ("-e", target) if recipe.editable else (target,)
    print(f"[{recipe.suite}] installing {recipe.project} and {len(recipe.deps)} deps", flush=True)
    done = pip(python, "install", "-q", *project, *recipe.deps, "-e", str(REPO))
    if done.returncode != 0:
        sys.exit(f"[{recipe.suite}] pip install failed:\n{done.stderr[-4000:]}")
    freeze = pip(python, "freeze", "--all").stdout
    (ARTIFACTS / recipe.suite / "pip-freeze.txt").write_text(freeze)
    stamp.write_text(want)
    return python


# -- running ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One pytest process of one mode."""

    mode: str
    index: int  # 1, 2, ... for --runs
    wall: float
    cpu: float  # user + system of pytest and the children it waited for
    returncode: int | None  # None: killed at the timeout
    junit: str
    json: str | None
    log: str
    pytest_line: str = ""  # pytest's own last summary line

    @property
    def label(self) -> str:
        return f"{self.mode}#{self.index}"


def run_env(recipe: Recipe, python: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(recipe.env)
    return env


def pytest_argv(recipe: Recipe, python: Path, mode: str, out: Path) -> list[str]:
    argv = [str(python), "-m", "pytest", *COMMON, *MODES[mode], *recipe.args]
    argv += [f"--junitxml={out.with_suffix('.xml')}"]
    if mode != "plain":
        argv += [f"--leakwatch-json={out.with_suffix('.json')}"]
    for nodeid in recipe.deselect:
        argv += ["--deselect", nodeid]
    return argv + list(recipe.paths)


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pytest(
    recipe: Recipe, python: Path, source: Path, mode: str, index: int, timeout: int
) -> Run:
    outdir = ARTIFACTS / recipe.suite / "runs"
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / f"{mode}-{index}"
    for suffix in (".xml", ".json", ".log"):
        out.with_suffix(suffix).unlink(missing_ok=True)
    argv = pytest_argv(recipe, python, mode, out)
    print(f"[{recipe.suite}] {mode} run {index} ...", end=" ", flush=True)
    cpu, t0 = child_cpu(), time.perf_counter()
    with out.with_suffix(".log").open("w") as log:
        log.write("$ " + " ".join(argv) + "\n\n")
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=source,
            env=run_env(recipe, python),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # so a timeout can end the whole process group
        )
        try:
            returncode: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
    wall, cpu = time.perf_counter() - t0, child_cpu() - cpu
    text = out.with_suffix(".log").read_text(errors="replace")
    last = [ln for ln in text.splitlines() if re.search(r"\b(passed|failed|error)\b.* in ", ln)]
    run = Run(
        mode=mode,
        index=index,
        wall=wall,
        cpu=cpu,
        returncode=returncode,
        junit=str(out.with_suffix(".xml")),
        json=str(out.with_suffix(".json")) if mode != "plain" else None,
        log=str(out.with_suffix(".log")),
        pytest_line=last[-1].strip("= ") if last else "",
    )
    state = "TIMED OUT" if returncode is None else f"exit {returncode}"
    print(f"{wall:.1f}s wall, {cpu:.1f}s cpu, {state}; {run.pytest_line}", flush=True)
    (out.with_suffix(".run.json")).write_text(json.dumps(asdict(run), indent=1))
    return run


# -- reading results ---------------------------------------------------------------------------


def junit_key(nodeid: str) -> str:
    """The ``classname::name`` pytest's junitxml writes for a nodeid (its mangling)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]) + "::" + names[-1]


def read_outcomes(path: str) -> dict[str, dict[str, str]]:
    """``{key: {"outcome": ..., "message": ...}}`` for every test case in a junit file.

    A test can appear twice (a failed call and then a teardown error); its
    outcome is then both, joined with ``+``.
    """
    if not os.path.exists(path):
        return {}
    try:
        tree = ET.parse(path)
    except ET.ParseError:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for case in tree.iter("testcase"):
        key = f"{case.get('classname', '')}::{case.get('name', '')}"
        labels, message = [], ""
        for child in case:
            if child.tag not in ("failure", "error", "skipped"):
                continue
            text = child.get("message") or ""
            labels.append(outcome_label(child.tag, child.get("type") or "", text))
            message = message or first_line(text or child.text or "")
        entry = found.setdefault(key, {"labels": set(), "message": ""})
        entry["labels"].update(labels or ["passed"])
        entry["message"] = entry["message"] or message
    return {
        key: {"outcome": "+".join(sorted(e["labels"] - {"passed"} or e["labels"])), **e}
        for key, e in found.items()
    }


def outcome_label(tag: str, kind: str, message: str) -> str:
    if tag == "failure":
        return "failed"
    if tag == "skipped":
        return "xfailed" if kind == "pytest.xfail" else "skipped"
    for phase in ("setup", "teardown"):
        if message.startswith(f"failed on {phase}"):
            return f"error({phase})"
    return "error(collect)" if "collection" in message else "error"


def first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line[:240]


def read_findings(
    path: str | None, source: Path, tests: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """``{junit key: [finding, ...]}`` from leakwatch's session JSON (leaks only)."""
    if not path or not os.path.exists(path):
        return {}
    data = json.loads(Path(path).read_text())
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in data.get("tests", ()):
        for leak in entry.get("leaks", ()):
            found.setdefault(junit_key(entry["nodeid"]), []).append(
                {
                    "nodeid": entry["nodeid"],
                    "phase": entry.get("phase", ""),
                    "fixture": entry.get("fixture"),
                    "scope": entry.get("scope"),
                    "kind": leak["kind"],
                    "count": leak.get("count", 1),
                    "title": leak["title"],
                    "where": origin_line(leak.get("origin", ()), source, tests),
                }
            )
    return found


def origin_line(origin: list[dict[str, Any]], source: Path, tests: list[str]) -> str:
    """``path:line`` of the innermost frame in the suite's tests, else in its sdist, else any."""
    if not origin:
        return "(no origin)"
    roots = tuple(str(source / t) for t in tests)
    in_tests = [f for f in origin if str(f["filename"]).startswith(roots)]
    mine = [f for f in origin if str(f["filename"]).startswith(str(source))]
    frame = (in_tests or mine or origin)[-1]
    name = str(frame["filename"])
    name = os.path.relpath(name, source) if name.startswith(str(source)) else shorten(name)
    return f"{name}:{frame['lineno']}"


def shorten(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1] if marker == "site-packages/" else filename
    return filename


def headline(findings: list[dict[str, Any]]) -> str:
    parts = []
    for f in findings:
        who = f"{f['scope']} fixture {f['fixture']}" if f.get("fixture") else f["phase"]
        parts.append(f"{f['kind']} x{f['count']} ({who}): {f['title']} at {f['where']}")
    return "; ".join(parts)


# -- comparing ----------------------------------------------------------------------------------


def causes(changed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Changed tests grouped by what leakwatch said (numbers masked), largest group first."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for change in changed:
        if change["findings"]:
            keys = {
                (f["kind"], f["phase"], re.sub(r"\d+", "N", f["title"]), f["where"])
                for f in change["findings"]
            }
        else:  # the outcome changed and leakwatch reported nothing for the test
            how = f"{change['plain']} -> {change['now']}"
            keys = {("no finding", how, re.sub(r"0x[0-9a-f]+|\d+", "N", change["message"]), "")}
        for key in keys:
            groups.setdefault(key, []).append(change["test"])
    rows = [
        {"kind": k[0], "phase": k[1], "title": k[2], "where": k[3], "tests": v}
        for k, v in groups.items()
    ]
    return sorted(rows, key=lambda r: -len(r["tests"]))


def counts(outcomes: dict[str, dict[str, str]]) -> dict[str, int]:
    tally = {"tests": len(outcomes)}
    for entry in outcomes.values():
        for label in entry["outcome"].split("+"):
            name = "error" if label.startswith("error") else label
            tally[name] = tally.get(name, 0) + 1
    return tally


def compare(
    plain: dict[str, dict[str, str]],
    other: dict[str, dict[str, str]],
    findings: dict[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Every test whose outcome differs from plain, with leakwatch's findings for it."""
    changed = []
    for key in sorted(set(plain) | set(other)):
        was = plain.get(key, {}).get("outcome", "(not run)")
        now = other.get(key, {}).get("outcome", "(not run)")
        if was != now:
            changed.append(
                {
                    "test": key,
                    "plain": was,
                    "now": now,
                    # the failure's message, under leakwatch or else plain
                    "message": other.get(key, {}).get("message", "")
                    or plain.get(key, {}).get("message", ""),
                    "findings": findings.get(key, []),
                }
            )
    return changed


def run_to_run(a: Run, b: Run, source: Path, tests: list[str]) -> list[dict[str, Any]]:
    """Tests whose outcome or set of findings differs between two runs of one mode."""
    oa, ob = read_outcomes(a.junit), read_outcomes(b.junit)
    fa, fb = read_findings(a.json, source, tests), read_findings(b.json, source, tests)
    diffs = []
    for key in sorted(set(oa) | set(ob) | set(fa) | set(fb)):
        out_a = oa.get(key, {}).get("outcome", "(not run)")
        out_b = ob.get(key, {}).get("outcome", "(not run)")
        sig_a = sorted({(f["kind"], f["where"]) for f in fa.get(key, [])})
        sig_b = sorted({(f["kind"], f["where"]) for f in fb.get(key, [])})
        if out_a != out_b or sig_a != sig_b:
            diffs.append(
                {
                    "test": key,
                    a.label: out_a,
                    b.label: out_b,
                    f"{a.label} findings": headline(fa.get(key, [])),
                    f"{b.label} findings": headline(fb.get(key, [])),
                }
            )
    return diffs


def summarize(recipe: Recipe, source: Path, runs: list[Run]) -> dict[str, Any]:
    plain = next((r for r in runs if r.mode == "plain"), None)
    base = read_outcomes(plain.junit) if plain else {}
    modes = []
    for run in runs:
        outcomes = read_outcomes(run.junit)
        findings = read_findings(run.json, source, recipe.paths)
        entry: dict[str, Any] = {
            "run": run.label,
            "wall": round(run.wall, 2),
            "cpu": round(run.cpu, 2),
            "returncode": run.returncode,
            "pytest": run.pytest_line,
            "counts": counts(outcomes),
            "log": os.path.relpath(run.log, REPO),
        }
        if plain and run is not plain:
            entry["wall_ratio"] = round(run.wall / plain.wall, 3)
            entry["cpu_ratio"] = round(run.cpu / plain.cpu, 3) if plain.cpu else None
            entry["changed"] = compare(base, outcomes, findings)
            entry["causes"] = causes(entry["changed"])
            entry["flagged_tests"] = len(findings)
            entry["flagged_unchanged"] = sorted(
                k for k in findings if k not in {c["test"] for c in entry["changed"]}
            )
        modes.append(entry)
    repeats = []
    by_mode: dict[str, list[Run]] = {}
    for run in runs:
        by_mode.setdefault(run.mode, []).append(run)
    for same in by_mode.values():
        for other in same[1:]:
            repeats.append(
                {
                    "runs": [same[0].label, other.label],
                    "differ": run_to_run(same[0], other, source, recipe.paths),
                }
            )
    return {
        "suite": recipe.suite,
        "project": f"{recipe.project} {source.name.rsplit('-', 1)[-1]}",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "deselected": recipe.deselect,
        "modes": modes,
        "run_to_run": repeats,
        "failing_plain": failing_plain(plain) if plain else {},
    }


def failing_plain(run: Run) -> dict[str, str]:
    """``{nodeid: message}`` of pytest's FAILED/ERROR lines: candidates for [deselect]."""
    found: dict[str, str] = {}
    for line in Path(run.log).read_text(errors="replace").splitlines():
        hit = re.match(r"(?:FAILED|ERROR) (\S+)(?: - (.*))?$", line)
        if hit:
            found.setdefault(hit.group(1), (hit.group(2) or "")[:120])
    return found


def write_markdown(summary: dict[str, Any], path: Path) -> None:
    lines = [
        f"# Field trial: {summary['project']} ({summary['suite']})",
        "",
        f"Python {summary['python']}, {summary['cpus']} CPUs, "
        f"{len(summary['deselected'])} tests deselected by the recipe.",
        "",
        "| run | tests | passed | failed | error | skipped | xfailed | wall | x plain "
        "| cpu | x plain | changed | flagged |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in summary["modes"]:
        c = m["counts"]
        cells = [c.get(k, 0) for k in ("tests", "passed", "failed", "error", "skipped")]
        cells.append(c.get("xfailed", 0))
        ratio = f"{m['wall_ratio']:.2f}x" if "wall_ratio" in m else ""
        cpu_ratio = f"{m['cpu_ratio']:.2f}x" if m.get("cpu_ratio") else ""
        changed = str(len(m["changed"])) if "changed" in m else ""
        flagged = str(m.get("flagged_tests", ""))
        note = " (TIMED OUT)" if m["returncode"] is None else ""
        lines.append(
            f"| {m['run']}{note} | "
            + " | ".join(str(x) for x in cells)
            + f" | {m['wall']:.1f}s | {ratio} | {m['cpu']:.1f}s | {cpu_ratio} | {changed} "
            f"| {flagged} |"
        )
    lines += [
        "",
        "changed: tests whose outcome differs from plain; flagged: tests with a leakwatch "
        "finding (leaks, not known/ignored/baselined).",
    ]
    for m in summary["modes"]:
        if not m.get("changed"):
            continue
        lines += ["", f"## Causes under {m['run']} (numbers masked)", ""]
        for cause in m["causes"]:
            tests = cause["tests"]
            lines.append(
                f"- {len(tests)} x {cause['kind']} ({cause['phase']}): {cause['title']}"
                + (f" at {cause['where']}" if cause["where"] else "")
                + f"; e.g. `{tests[0]}`"
            )
        lines += ["", f"## Changed under {m['run']} ({len(m['changed'])})", ""]
        for c in m["changed"]:
            lines.append(f"- `{c['test']}`: {c['plain']} -> {c['now']}")
            if c["findings"]:
                lines.append(f"  - leakwatch: {headline(c['findings'])}")
            elif c["message"]:
                lines.append(f"  - no leakwatch finding; message: {c['message']}")
    for rep in summary["run_to_run"]:
        a, b = rep["runs"]
        lines += ["", f"## Run to run: {a} vs {b} ({len(rep['differ'])} tests differ)", ""]
        for d in rep["differ"]:
            lines.append(f"- `{d['test']}`: {d[a]} / {d[b]}")
            for label in (a, b):
                if d[f"{label} findings"]:
                    lines.append(f"  - {label}: {d[f'{label} findings']}")
    if summary["failing_plain"]:
        lines += ["", "## Failing plain: candidates for the recipe's [deselect]", "", "```toml"]
        for nodeid, message in summary["failing_plain"].items():
            lines.append(f"{json.dumps(nodeid)} = {json.dumps(message)}")
        lines.append("```")
    path.write_text("\n".join(lines) + "\n")


# -- main ------------------------------------------------------------------------------------------


def field_trial(
    suite: str,
    modes: list[str],
    runs: int,
    timeout: int | None,
    *,
    prepare: bool = False,
    summary_only: bool = False,
) -> None:
    recipe = Recipe.load(suite)
    sdist = fetch_sdist(recipe)
    source = unpack(recipe, sdist)
    python = make_venv(recipe, source)
    if prepare and not summary_only:
        print(f"[{suite}] ready: {source.relative_to(REPO)}, {python.relative_to(REPO)}")
        return
    limit = timeout or recipe.timeout
    if not summary_only:
        # Collect once first: compiles bytecode, so the first timed mode is not charged for it.
        warm = [str(python), "-m", "pytest", "--collect-only", "-q", *COMMON[:2], *recipe.args]
        subprocess.run(
            warm + list(recipe.paths),
            cwd=source,
            env=run_env(recipe, python),
            capture_output=True,
            timeout=limit,
            check=False,
        )
    done: list[Run] = []
    for index in range(1, runs + 1):
        for mode in modes:
            if mode == "plain" and index > 1:
                continue  # plain once: the reference
            if summary_only:  # the runs an earlier invocation saved
                saved = ARTIFACTS / suite / "runs" / f"{mode}-{index}.run.json"
                if saved.exists():
                    done.append(Run(**json.loads(saved.read_text())))
                continue
            done.append(run_pytest(recipe, python, source, mode, index, limit))
    summary = summarize(recipe, source, done)
    where = ARTIFACTS / suite
    (where / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_markdown(summary, where / "summary.md")
    print(f"[{suite}] summary: {(where / 'summary.md').relative_to(REPO)}")
    for m in summary["modes"]:
        if "changed" in m:
            print(
                f"[{suite}] {m['run']}: {len(m['changed'])} tests changed, "
                f"{m['flagged_tests']} flagged, wall {m['wall_ratio']:.2f}x plain",
                flush=True,
            )


def interruptible() -> None:
    """Let the suites see SIGINT as a terminal would send it.

    Started as a background job (``cmd &`` in a script, CI steps, nohup),
    this process inherits SIGINT ignored, and so would every pytest it runs:
    tests that interrupt themselves or stop a helper process with SIGINT
    (anyio's ``test_keyboard_interrupt_does_not_resume_test``, pexpect's
    socket server) then fail or hang, plain or not.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    interruptible()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("suite", help=f"one of {', '.join(recipe_names())}, or all")
    parser.add_argument("--modes", default="plain,default,all", help="of plain,default,all")
    parser.add_argument("--runs", type=int, default=1, help="runs of each leakwatch mode")
    parser.add_argument("--timeout", type=int, help="seconds per pytest run (recipe default)")
    parser.add_argument(
        "--prepare", action="store_true", help="only download, unpack and install; run nothing"
    )
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="rebuild summary.md/json from the runs saved under artifacts/field/<suite>/runs",
    )
    opts = parser.parse_args()
    modes = [m for m in opts.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown modes {unknown}; known: {', '.join(MODES)}")
    if "plain" not in modes:
        modes.insert(0, "plain")  # the reference every comparison needs
    suites = recipe_names() if opts.suite == "all" else [opts.suite]
    for suite in suites:
        field_trial(
            suite,
            modes,
            opts.runs,
            opts.timeout,
            prepare=opts.prepare,
            summary_only=opts.summary_only,
        )


if __name__ == "__main__":
    main()
