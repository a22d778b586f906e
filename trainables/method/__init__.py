"""The method (DESIGN.md 2.2-2.4): pruning, retraining the copies, landscape metrics, and the measures beside them.

`pruning` (masks at a density) -> `retrain` (K copies, masks held) -> `landscape` (LMC, CKA);
`beyond` (agreement, perturbed test sets) and `controls` (from-scratch models) add to a cell.
Each uses `trainables.run` and `trainables.data`, never the config.
"""
