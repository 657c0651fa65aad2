"""Same seed, same trace: every parity scenario in the site's Pyodide and in CPython.

The reference scenario (``labs.scenarios.reference``) exercises the kernel end to end. Each
part added for a chapter contributes its own scenario as a module-level ``_parity(seed)``
function returning a digest (usually ``result.journal_hash()``); this test finds them all,
in CPython and in Pyodide, so a new part is covered by adding that function.
"""

from __future__ import annotations

import json

import pytest

from labs.scenarios import parity_digests
from tests.browser.lite import open_pyodide_harness

pytestmark = pytest.mark.browser

CODE = """
import json, sys
from labs.scenarios import parity_digests, reference
json.dumps({"python": sys.version.split()[0], "platform": sys.platform,
            "digests": parity_digests(SEEDS),
            "events": len(reference(seed=SEEDS[0]).journal)})
"""
SEEDS = [7, 8, 2026]


def test_parity_scenarios_are_identical_in_pyodide(context, base_url):
    """Pyodide (Python 3.14, WebAssembly) and CPython produce byte-identical journals."""
    page = context.new_page()
    open_pyodide_harness(page, base_url, "labs")
    got = json.loads(page.evaluate(
        "([code, seeds]) => { window.pyodide.globals.set('SEEDS', window.pyodide.toPy(seeds));"
        " return runPython(code); }", [CODE, SEEDS]))
    assert got["platform"] == "emscripten"  # really ran in Pyodide
    expected = parity_digests(SEEDS)
    assert "labs.scenarios" in expected and len(expected) >= 1
    assert got["digests"] == expected
    for name, by_seed in expected.items():   # and the seed matters in each scenario
        assert len(set(by_seed.values())) == len(SEEDS), name
    from labs.scenarios import reference
    assert got["events"] == len(reference(seed=SEEDS[0]).journal) > 1000
    assert context.requests.outside == []
