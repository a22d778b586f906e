"""Old module names of study/ still import, as the modules they became (scripts and older studies' pickles)."""

import importlib
import pickle

import pytest

from study import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_name_imports_the_module_it_became(old):
    new = MOVED[old]
    moved = importlib.import_module(old)
    assert moved is importlib.import_module(new)
    assert moved.__name__ == new and moved.__spec__.name == new  # the module keeps its own name and spec


def test_tunes_pickles_of_a_study_launched_before_the_split_still_load():
    # Tune pickles a study's callbacks, searcher and a baseline's rule by their module and name:
    # protocol-0 references to the names those studies were launched with.
    from study.run.callbacks import JsonLogger
    from study.search.baselines import RandomRule
    from study.search.searchers import RegimeSearcher

    for reference, cls in ((b"cstudy.launch\nJsonLogger\n.", JsonLogger), (b"cstudy.callbacks\nJsonLogger\n.", JsonLogger),
                           (b"cstudy.search\nRegimeSearcher\n.", RegimeSearcher),
                           (b"cstudy.baselines\nRandomRule\n.", RandomRule)):
        assert pickle.loads(reference) is cls
