"""Training networks of the FALSR space (users' runs and the NAS evaluator).

    from falsr_ext.training import train
    result = train("FALSR-B", ["T91", "BSD200"], "runs/b", steps=20000, val="Set5")
"""

from falsr_ext.training.config import TrainConfig, TrainConfigError
from falsr_ext.training.trainer import TrainResult, train, train_run

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "train", "train_run"]
