"""The driver's side: a study's config, running it on Ray Tune, choosing its trials, and the `regimes` command.

- `study.config`: YAML -> a validated config, and what follows from the config alone (no Ray);
- `study.search`: the Tune searchers and the baselines' rules (which trials);
- `study.run`: the launcher, repairs, the screen, callbacks, locks, snapshots, storage, logs;
- `study.cli`: `regimes`, which parses, dispatches and prints; the only part that imports `analysis`.

Imports go one way, cli -> run -> search -> config (`tests/test_style.py` checks it), and all
may import `contract` and `trainables`.
Modules that moved when `study/` was split keep their old names (`MOVED`): code that imports
`study.launch` still runs, and Tune's pickles of older studies (which name `study.callbacks`,
`study.launch`, `study.baselines`) still load, so those studies resume.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {  # old module -> where it lives now
    "study.launch": "study.run.launch", "study.callbacks": "study.run.callbacks", "study.lock": "study.run.lock",
    "study.snapshot": "study.run.snapshot", "study.storage": "study.run.storage", "study.output": "study.run.output",
    "study.owed": "study.run.disk", "study.failures": "study.run.failures", "study.version": "study.run.version",
    "study.plan": "study.run.plan", "study.screen": "study.run.screen", "study.baselines": "study.search.baselines",
    "study.proxy": "study.config.proxy", "study.paths": "study.config.paths", "study.follow": "study.cli.follow",
    "study.checks": "study.cli.checks"}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # Imports an old name as the module it moved to: the same module object, not a copy.
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        self._spec = module.__spec__  # importlib gives the module the old name's spec next: exec_module undoes it
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # already executed under its new name


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
