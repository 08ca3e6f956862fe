"""cmmd_lite: the CMMD model of Mancisidor et al., "Discriminative Multimodal Learning via
Conditional Priors in Generative Models", in small, readable PyTorch.

>>> from cmmd_lite import get_config, train_or_load, evaluate
>>> result = train_or_load(get_config("mnist2", "smoke"))       # doctest: +SKIP
>>> evaluate(result.model, result.data.test)["accuracy"]        # doctest: +SKIP
"""
from .config import (Config, DataConfig, ModelConfig, ObjectiveConfig, TrainConfig, config_names,
                     current_profile, get_config)
from .data.paired import PairedData, PairedSplits, load_paired, paired_from_arrays
from .evaluate import (accuracy, collapse_curve, collapse_curves, evaluate, generate_missing, imputation_rmse,
                       kl_per_dimension, latent_parameters, linear_probe_accuracy, predict_proba)
from .losses import gaussian_kl, mmd
from .baselines import MMVAE, MVAE, VCCA, LinearXo, MXo, model_class
from .model import CMMD, MultimodalModel
from .train import CheckpointError, NonFiniteLossError, TrainResult, build_model, fit, load_checkpoint, train_or_load
from .utils import choose_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "CMMD", "LinearXo", "MMVAE", "MVAE", "MXo", "MultimodalModel", "VCCA", "model_class", "linear_probe_accuracy",
    "CheckpointError", "Config", "DataConfig", "ModelConfig", "NonFiniteLossError", "ObjectiveConfig",
    "PairedData", "PairedSplits", "TrainConfig", "TrainResult", "accuracy", "build_model", "choose_device",
    "collapse_curve", "collapse_curves", "config_names", "current_profile", "evaluate", "fit",
    "gaussian_kl", "generate_missing", "get_config", "imputation_rmse", "kl_per_dimension",
    "latent_parameters", "load_checkpoint", "load_paired", "mmd", "paired_from_arrays", "predict_proba",
    "seed_everything", "train_or_load",
]
