"""Reading studies back: tables, regimes, phase diagrams, the HTML report and advice.

Typical use: `classify(aggregate(load_study("studies/demo")), mc_threshold=-0.1)`.
"""

from analysis.advice import AdviceError, advise, recommend_rho, select_model
from analysis.classify import aggregate, classify
from analysis.load import StudyReadError, load_study, read_study

__all__ = ["load_study", "read_study", "aggregate", "classify", "advise", "select_model", "recommend_rho",
           "AdviceError", "StudyReadError"]
