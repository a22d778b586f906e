"""Running a study on Ray Tune: the launcher and everything that keeps a run safe and visible.

- `launch`: `run_study` (the lock, the snapshot, restore or start Tune, fit); `repair`: what Tune
  will never compute, computed by a repair experiment, and the outcome counted; `cluster`: the
  cluster joined and checked, the param_space;
- `screen`: a screened study, the screen then the full stage on what it kept (two launches);
- `callbacks` (progress line, result loggers, MLflow), `output` (where Ray's output goes),
  `failures` (why trials failed, in one line), `plan` (the cost estimate);
- a study's own files: `lock`, `snapshot` (the config, written atomically), `disk` (free
  space, a full disk said), `storage` (object storage), `version` (the code).

Imports `contract`, `trainables` (the trainable), `study.config` and `study.search`; never
`analysis` (a search's rule comes from the caller). Ray is imported by `launch`, `repair`,
`cluster` and `callbacks` only.
"""
