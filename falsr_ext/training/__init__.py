"""Training networks of any space (users' runs and the NAS evaluator): FALSR genotypes
(luma or RGB), DLSR and TPSR architectures (RGB on 0..255, as their releases).

    from falsr_ext.training import train
    result = train("FALSR-B", ["T91", "BSD200"], "runs/b", steps=20000, val="Set5")
    result = train("tpsr:tpsr-d2", ["DIV2K"], "runs/t", scale=4, patch=24, val="Set5")
"""

from falsr_ext.training.config import TrainConfig, TrainConfigError
from falsr_ext.training.trainer import TrainResult, train, train_run

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "train", "train_run"]
