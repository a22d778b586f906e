"""The contract both sides of the V share: what a study is, what a trial reports, and their words.

`study` (launching) and `trainables` (the trial) write what this package defines, and
`analysis` reads it back through the same types; every package imports it and it imports none of
them, nor torch or Ray (tests/test_style.py checks both). Its modules:

- `knobs`: the temperature-like knobs, their units, which way is hotter and the advice words;
- `names`: the built-in model, dataset and pruning-method names and the plug-in entry points;
- `config`: the typed study configuration, one frozen pydantic model per YAML section (`section`
  their base and shared value types, `method` the method's sections, `resources` the per-trial
  resources, device and precision, `proxy` a proxy's fractions, `seeds` seeds added where calls
  are uncertain); `saved`: a study's saved config read back, leniently;
- `trial`: what Tune hands a trial; `row`: the result row of one cell (`CellRow`), its key
  patterns and `report_keys`; `cells`: the one reader of a trial's reported rows ("the last
  report of a density wins");
- a study's files: `store` (a disk or object storage), `folders` (the one place that knows how
  Tune names a study's folders and files), `results` (what a study owes and has reported, its
  manifest), `screen` (a screened study's two stages).
"""
