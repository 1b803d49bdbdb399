"""tune-sdk: a Python client for tune, the autotuning service for training.

    import tune

    client = tune.Client()              # $TUNE_SERVER, else http://127.0.0.1:8080
    study = client.create_study({
        "name": "quadratic",
        "objective": {"metric": "loss", "direction": "minimize"},
        "search_space": {"x": {"type": "float", "low": -5, "high": 5}},
    }, exist_ok=True)
    study.optimize(lambda trial: (trial.params["x"] - 2) ** 2, n_trials=20)
    print(study.best_trial.params)

``tune.script`` holds the helpers for a script run by a runner's exec
workload (params, report, result).
"""

from . import script
from .client import NOT_EXPOSED, OPERATIONS, Client, Study, Trial, read_study_file
from .errors import APIError, ConflictError, NotFoundError, TrialPruned, TuneConnectionError, TuneError
from .models import (Constraint, IntermediateValue, LeaseExtension, Objective, ParamImportance, ParamImportances, StudyInfo,
                     TrialCounts, TrialInfo)

__version__ = "0.1.0"

__all__ = [
    "APIError", "Client", "ConflictError", "Constraint", "IntermediateValue", "LeaseExtension", "NOT_EXPOSED", "NotFoundError",
    "OPERATIONS", "Objective", "ParamImportance", "ParamImportances", "Study", "StudyInfo", "Trial", "TrialCounts",
    "TrialInfo", "TrialPruned", "TuneConnectionError", "TuneError", "read_study_file", "script",
]
