"""Same seed, same trace: the reference scenario in the site's Pyodide and in CPython."""

from __future__ import annotations

import json

import pytest

from labs.scenarios import reference

pytestmark = pytest.mark.browser

CODE = """
import json, sys
from labs.scenarios import reference
json.dumps({"python": sys.version.split()[0], "platform": sys.platform,
            "hashes": {str(s): reference(seed=s).journal_hash() for s in SEEDS},
            "events": len(reference(seed=SEEDS[0]).journal)})
"""
SEEDS = [7, 8, 2026]


def test_reference_scenario_journal_hash_is_identical_in_pyodide(context, base_url):
    """Pyodide (Python 3.14, WebAssembly) and CPython produce byte-identical journals."""
    page = context.new_page()
    page.goto(f"{base_url}/__tests__/pyodide.html?packages=labs")
    page.wait_for_function("document.getElementById('status').textContent === 'ready'",
                           timeout=120_000)
    got = json.loads(page.evaluate(
        "([code, seeds]) => { window.pyodide.globals.set('SEEDS', window.pyodide.toPy(seeds));"
        " return runPython(code); }", [CODE, SEEDS]))
    assert got["platform"] == "emscripten"  # really ran in Pyodide
    expected = {str(s): reference(seed=s).journal_hash() for s in SEEDS}
    assert got["hashes"] == expected
    assert len(set(expected.values())) == len(SEEDS)  # and the seed matters
    assert got["events"] == len(reference(seed=SEEDS[0]).journal) > 1000
    assert context.requests.outside == []
