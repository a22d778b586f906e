"""Everything that runs inside one trial, in the order of the method.

`data` -> `models` -> `run` (the engine) -> `method` (prune, retrain, measure) -> `cell` (the
config made into runs and cells) -> `trial` (the Ray Tune entry point, the only Ray import).
Imports go one way along that line; all of them may import `contract`.
"""
