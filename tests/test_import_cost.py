"""`import mejax` and the modules a Stata command line needs load no more than they use.

A fresh process: optimistix/equinox (tracing only), formulaic (formula strings only),
scipy.stats, menl and the functional API stay unloaded until something asks for them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import importlib.util, json, sys
import mejax
import mejax.cli
mejax.stata, mejax.MixedResult, mejax.datasets

def loaded(name):
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, importlib.util._LazyModule)

names = ["optimistix", "equinox", "formulaic", "scipy.stats", "scipy.sparse", "mejax.menl_api",
         "mejax.functional", "mejax.results.glmm_result", "mejax.bayes", "matplotlib"]
print(json.dumps({name: loaded(name) for name in names}))
"""


def test_a_stata_command_line_loads_only_what_it_uses():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "MEJAX_NO_CACHE": "1",
                                         "PATH": "/usr/bin:/bin"}, check=True)
    loaded = json.loads(proc.stdout.splitlines()[-1])
    assert not any(loaded.values()), {k for k, v in loaded.items() if v}


def test_lazy_names_resolve_and_list():
    import mejax

    assert set(mejax.__all__) <= set(dir(mejax))
    assert mejax.mixed.__module__ == "mejax.api"
    assert mejax.functional.__name__ == "mejax.functional"
    assert issubclass(mejax.GlmmResult, mejax.MixedResult)
