"""Which trials a study runs: the Tune searchers and the baselines' rules.

- `searchers`: `RegimeSearcher` (asks a rule for temperatures, then a seed rule for seeds; a
  grid as a rule, `GridRule`), `PointsSearcher` (a fixed list of trials: a repair, a screen's
  full stage), `tune_config`; the searcher writes the trials it starts to the study's manifest
  (`contract.results`);
- `baselines`: the random and TPE rules a search is compared with.

Imports `contract` and `study.config` only; `study.run` uses it. The regime rules themselves
come from `analysis` through the caller (`study.cli`). Tune pickles a
study's searcher with its experiment; studies launched before this package existed pickled it
as `study.search.RegimeSearcher`, so the searchers' names are importable from here too.
"""

from study.search.searchers import GridRule, PointsSearcher, RegimeSearcher, cell_rows, tune_config

__all__ = ["GridRule", "PointsSearcher", "RegimeSearcher", "cell_rows", "tune_config"]
