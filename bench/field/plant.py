"""Recall on a real suite: plant a known leak in code it runs, count the tests that fail for it.

Usage::

    python bench/field/plant.py SUITE --target module:Qualname
        --kind socket|thread|task|timer|tempdir [--paths tests/x.py ...] [--timeout S]

The function ``--target`` names (the suite's own, or a library's it runs: a
request handler a session-scoped server thread calls, a client's send) is
wrapped by ``planted.py`` so that the first call in each test's window leaks
one resource of ``--kind``, held unmistakably (a module list or set, a thread
waiting a minute, a temp dir never removed).  The suite then runs twice with
the leaks planted, plain and under ``--leakwatch``:

* **reached**: tests whose window made a planted leak (its log) and that
  passed plain;
* **caught**: of those, the tests leakwatch failed (failure or teardown
  error) with a leak at the planted line, charged to that test;
* **missed**: reached and not caught; **misplaced**: the planted line charged
  to another test or a fixture;
* **other changes**: tests that did not reach the planted code whose outcome
  changed from plain;
* **seconds**: each run's wall time, and what each caught leak cost (the
  difference over the leaks caught): a suite where most tests leak is where
  a first run decides whether a team keeps the tool.

The target is 100% caught at their own test with nothing else changed.
Results go to ``artifacts/field/<suite>/plant-<kind>.json`` and are printed.
Uses ``run.py``'s recipes and venvs (``make field`` prepares them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as field  # this folder's run.py

PLANTED = Path(__file__).resolve().parent / "planted.py"


def run_planted(
    recipe: field.Recipe,
    python: Path,
    source: Path,
    mode: str,
    spec: str,
    paths: list[str],
    timeout: int,
) -> tuple[Path, Path, Path, float]:
    out = field.ARTIFACTS / recipe.suite / "plant" / f"{spec.rsplit('=', 1)[1]}-{mode}"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".plant.jsonl")
    for suffix in (".xml", ".json", ".log", ".plant.jsonl"):
        out.with_suffix(suffix).unlink(missing_ok=True)
    argv = field.pytest_argv(recipe, python, mode, out)
    argv[3:3] = ["-p", "planted"]  # after "python -m pytest"
    if paths:
        argv = [a for a in argv if a not in recipe.paths] + paths
    env = field.run_env(recipe, python)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLANTED.parent), env.get("PYTHONPATH")]))
    env["FIELD_PLANT"] = spec
    env["FIELD_PLANT_LOG"] = str(log)
    print(f"[{recipe.suite}] planted {spec}, {mode} ...", end=" ", flush=True)
    began = time.perf_counter()
    with out.with_suffix(".log").open("w") as text:
        proc = subprocess.run(
            argv,
            cwd=source,
            env=env,
            stdout=text,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    seconds = time.perf_counter() - began
    print(f"exit {proc.returncode}, {seconds:.1f} s", flush=True)
    return out.with_suffix(".xml"), out.with_suffix(".json"), log, seconds


def read_plants(path: Path) -> dict[str, dict[str, Any]]:
    """``{nodeid: record}`` of the leaks planted, one per test window."""
    found: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            found.setdefault(record["test"], record)
    return found


def planted_in(leak: dict[str, Any], record: dict[str, Any]) -> bool:
    return any(
        f.get("filename") == record["file"] and f.get("lineno") == record["line"]
        for f in leak.get("origin", ())
    )


def score(
    plain_xml: Path, lw_xml: Path, lw_json: Path, plain_log: Path, lw_log: Path
) -> dict[str, Any]:
    plain = field.read_outcomes(str(plain_xml))
    watched = field.read_outcomes(str(lw_xml))
    plants, plants_plain = read_plants(lw_log), read_plants(plain_log)
    data = json.loads(lw_json.read_text()) if lw_json.exists() else {"tests": []}
    charged: dict[str, list[dict[str, Any]]] = {}
    for entry in data.get("tests", ()):
        charged.setdefault(entry["nodeid"], []).append(entry)
    caught, missed, misplaced = [], [], []
    for nodeid, record in sorted(plants.items()):
        key = field.junit_key(nodeid)
        if nodeid not in plants_plain or plain.get(key, {}).get("outcome") != "passed":
            continue  # reached only under leakwatch, or failing plain: not counted
        mine = [
            leak
            for entry in charged.get(nodeid, ())
            if not entry.get("fixture")
            for leak in entry.get("leaks", ())
            if planted_in(leak, record)
        ]
        failed = watched.get(key, {}).get("outcome", "passed") != "passed"
        if mine and failed:
            caught.append(nodeid)
            continue
        elsewhere = [
            entry["nodeid"]
            for entries in charged.values()
            for entry in entries
            if entry["nodeid"] != nodeid or entry.get("fixture")
            for leak in entry.get("leaks", ())
            if planted_in(leak, record)
        ]
        (misplaced if elsewhere else missed).append(
            {"test": nodeid, "thread": record["thread"], "charged_to": sorted(set(elsewhere))}
        )
    reached_keys = {field.junit_key(n) for n in plants}
    others = [
        {"test": key, "plain": plain.get(key, {}).get("outcome"), "now": entry["outcome"]}
        for key, entry in sorted(watched.items())
        if key not in reached_keys and plain.get(key, {}).get("outcome") != entry["outcome"]
    ]
    threads = sorted({r["thread"] for r in plants.values()})
    return {
        "reached": len(caught) + len(missed) + len(misplaced),
        "caught": len(caught),
        "missed": missed,
        "misplaced": misplaced,
        "other_changes": others,
        "threads": threads,
    }


def main() -> None:
    field.interruptible()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("suite", help=f"one of {', '.join(field.recipe_names())}")
    parser.add_argument("--target", required=True, help="module:Qualname of the function to wrap")
    parser.add_argument(
        "--kind", required=True, choices=("socket", "thread", "task", "timer", "tempdir")
    )
    parser.add_argument("--paths", nargs="*", default=[], help="test paths (default: the recipe's)")
    parser.add_argument("--timeout", type=int, help="seconds per pytest run (recipe default)")
    opts = parser.parse_args()
    recipe = field.Recipe.load(opts.suite)
    source = field.unpack(recipe, field.fetch_sdist(recipe))
    python = field.make_venv(recipe, source)
    timeout = opts.timeout or recipe.timeout
    spec = f"{opts.target}={opts.kind}"
    plain_xml, _, plain_log, plain_s = run_planted(
        recipe, python, source, "plain", spec, opts.paths, timeout
    )
    lw_xml, lw_json, lw_log, lw_s = run_planted(
        recipe, python, source, "default", spec, opts.paths, timeout
    )
    result = {"suite": opts.suite, "target": opts.target, "kind": opts.kind}
    result.update(score(plain_xml, lw_xml, lw_json, plain_log, lw_log))
    per_leak = (lw_s - plain_s) / result["caught"] * 1000 if result["caught"] else None
    result["seconds"] = {"plain": round(plain_s, 2), "leakwatch": round(lw_s, 2)}
    result["ms_per_leak"] = None if per_leak is None else round(per_leak, 1)
    out = field.ARTIFACTS / recipe.suite / f"plant-{opts.kind}-{opts.target.replace(':', '.')}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    threads = result["threads"]
    shown = ", ".join(threads[:3]) + (f" and {len(threads) - 3} more" if len(threads) > 3 else "")
    print(
        f"[{opts.suite}] {opts.kind} at {opts.target} (made in threads: {shown}): "
        f"caught {result['caught']}/{result['reached']} at their own test, "
        f"missed {len(result['missed'])}, misplaced {len(result['misplaced'])}, "
        f"other changes {len(result['other_changes'])}; "
        f"{plain_s:.1f} s plain, {lw_s:.1f} s under leakwatch ({lw_s / plain_s:.2f}x"
        + (f", {per_leak:.0f} ms per leak caught)" if per_leak is not None else ")")
    )
    for item in result["missed"][:10] + result["misplaced"][:10]:
        print(f"  not caught: {item}")
    for item in result["other_changes"][:20]:
        print(f"  changed: {item}")


if __name__ == "__main__":
    main()
