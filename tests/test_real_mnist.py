"""The laptop-profile 2-modality MNIST run on the real MNIST mirror (minutes on 2 CPU cores)."""
import pytest

from cmmd_lite import evaluate, get_config, train_or_load

# Measured on a 2-core CPU with torch 2.13 (see benchmarks/RESULTS.md for the numbers and the command).
MIN_TEST_ACCURACY = 0.94


@pytest.mark.slow
def test_laptop_mnist2_reaches_the_measured_accuracy(real_mnist, tmp_path):
    config = get_config("mnist2", "laptop")
    result = train_or_load(config, checkpoint_root=tmp_path, progress=False)
    metrics = evaluate(result.model, result.data.test, n_samples=config.train.eval_samples)
    history = result.history
    print(f"\nlaptop mnist2: test accuracy {metrics['accuracy']:.4f}, best validation accuracy "
          f"{history['best_val_accuracy']:.4f} at epoch {history['best_epoch']}, "
          f"{history['train_seconds']:.0f} s of training")
    assert history["best_epoch"] is not None and len(history["epochs"]) == config.train.epochs
    assert metrics["accuracy"] >= MIN_TEST_ACCURACY
    # imputing x_M from x_o beats predicting the training set's mean x_M image
    mean_image = result.data.train.batch()[1].mean(0)
    test_x_m = result.data.test.batch()[1]
    baseline_rmse = float((test_x_m - mean_image).pow(2).mean().sqrt())
    print(f"x_M RMSE {metrics['rmse']['x_m']:.4f} vs {baseline_rmse:.4f} for the mean image")
    assert metrics["rmse"]["x_m"] < baseline_rmse
