"""The trial's cell: the config turned into runs (`runs`), dense training (`dense`), one cell's work (`work`).

Also the trial's checkpoint format (`state`) and a study's cost from a calibration (`calibrate`).
These, and `trainables.trial`, are the only modules under `trainables/` that see config objects.
"""
