"""The run, the engine of every stage: schedules and run settings, device and precision, stacked copies, training.

`schedules` <- `settings` (SGDRun); `runtime` (device, seeding, autocast); `stacked` (K copies as
one model); `engine` (train, evaluate) uses them all; `dense_prefix` shares one dense run per
seed between the trials of an epochs study; `pidlock` is the lock file it and the study lock use.
"""
