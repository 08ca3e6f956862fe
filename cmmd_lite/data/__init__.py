"""Datasets: MNIST and SVHN readers with a verified source chain, the SVHN stand-in, and the
paired multimodal datasets of the paper."""
from .files import ChecksumError, CorruptDataError, DataFileError, MissingDataError
from .mnist import load_mnist
from .paired import PairedData, PairedSplits, load_paired, paired_from_arrays
from .svhn import load_svhn_real
from .svhn_standin import STANDIN_LABEL, StandinWarning, load_svhn_standin

__all__ = ["STANDIN_LABEL", "ChecksumError", "CorruptDataError", "DataFileError", "MissingDataError",
           "PairedData", "PairedSplits", "StandinWarning", "load_mnist", "load_paired", "load_svhn_real",
           "load_svhn_standin", "paired_from_arrays"]
