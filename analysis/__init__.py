"""Reading studies back: tables, regimes, phase diagrams, the HTML report and advice.

Reads only what trials wrote; imports neither `study` nor `trainables`.
Typical use: `open_study("studies/demo").select(density=0.05, by="regime")` (or by="val" /
"regime+val" on a study with a validation split); the functions take a classified table instead.
"""

from analysis.advice import CRITERIA, AdviceError, advise, recommend_rho, select_model
from analysis.classified import ClassifiedStudy, open_study
from analysis.classify import aggregate, classify
from analysis.load import StudyReadError, load_study, read_study
from analysis.plots import regime_map
from analysis.prunability import prune_potential
from analysis.validate import criteria_regrets, select_regrets, validate_advice

__all__ = ["open_study", "ClassifiedStudy", "load_study", "read_study", "aggregate", "classify", "advise",
           "select_model", "recommend_rho", "validate_advice", "select_regrets", "criteria_regrets", "CRITERIA",
           "prune_potential", "regime_map", "AdviceError",
           "StudyReadError"]
