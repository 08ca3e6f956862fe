"""The laptop architecture on a subset of the real MNIST mirror: the whole real-data path (idx files,
pairing, training, evaluation) in under a minute on an idle 2-core CPU (50-64 s of test time on the
machine the numbers below were measured on, while it also ran other training jobs).

The full laptop run (25 epochs on 50,000 pairs, test accuracy 0.94+) is benchmarked in
benchmarks/RESULTS.md; CI trains this reduced run instead (about 620 Adam steps).

The threshold is measured. Command (one thread, as the test runs; the machine was shared with a
2-thread training job, which changes the time, not the numbers):

    CMMD_DATA_DIR=../shared/data CMMD_OFFLINE=1 python - <<'EOF'
    import torch; torch.set_num_threads(1)
    from cmmd_lite import evaluate, get_config, train_or_load
    for seed in (0, 1, 2):
        config = get_config("mnist2", "laptop", max_train=10_000, max_val=2_000, max_test=5_000,
                            epochs=8, alpha=100.0, seed=seed)
        result = train_or_load(config, checkpoint_root="/tmp/ckpt", progress=False)
        print(seed, evaluate(result.model, result.data.test, n_samples=config.train.eval_samples))
    EOF

Measured on 2026-12-02, torch 2.13.0+cpu, 2-core CPU:

    seed 0: test accuracy 0.8372, x_M RMSE 0.2994 (mean image 0.3009), best validation epoch 7
    seed 1: test accuracy 0.8372, x_M RMSE 0.2984 (mean image 0.3009), best validation epoch 8
    seed 2: test accuracy 0.8416, x_M RMSE 0.2981 (mean image 0.3009), best validation epoch 8

so MIN_TEST_ACCURACY = 0.81, 2.7 points below the lowest of the three (chance is 0.10).

Why alpha = 100 and not the laptop profile's alpha = 10 (cross-entropy averaged over the batch): at
alpha = 10 the classifier only starts to learn in this budget (its accuracy climbs from epoch 3 on),
so the same command without ``alpha=100.0`` gave test accuracies 0.3126, 0.2942, 0.3008 for seeds
0, 1, 2 (validation accuracy still rising 1-5 points per epoch): a threshold on that rise says
little beyond "better than chance" and moves with any change that shifts when learning starts. At alpha = 100 the run ends near its plateau (0.84,
within 0.5 points across seeds). The cross-entropy summed over the batch (the reference code's
weighting) learns y as fast but did not yet beat the mean image on x_M (RMSE 0.3031 vs 0.3009 for
seed 0), so it would fail the second assertion.
"""
import pytest

from cmmd_lite import evaluate, get_config, train_or_load

MIN_TEST_ACCURACY = 0.81
REDUCED = dict(max_train=10_000, max_val=2_000, max_test=5_000, epochs=8, alpha=100.0)


@pytest.mark.slow
def test_laptop_mnist2_reaches_the_measured_accuracy(real_mnist, tmp_path):  # one torch thread: conftest
    config = get_config("mnist2", "laptop", **REDUCED)
    laptop = get_config("mnist2", "laptop")
    assert config.model == laptop.model  # the laptop architecture: z = 20, one hidden layer of 400
    result = train_or_load(config, checkpoint_root=tmp_path, progress=False)
    assert len(result.data.train) == 10_000 and len(result.data.test) == 5_000
    assert result.data.train.x_o_dim == result.data.train.x_m_dim == 784 and not result.data.uses_standin
    metrics = evaluate(result.model, result.data.test, n_samples=config.train.eval_samples)
    history = result.history
    print(f"\nreduced laptop mnist2 on real MNIST: test accuracy {metrics['accuracy']:.4f}, best validation "
          f"accuracy {history['best_val_accuracy']:.4f} at epoch {history['best_epoch']}, "
          f"{history['train_seconds']:.0f} s of training")
    assert history["best_epoch"] is not None and len(history["epochs"]) == config.train.epochs
    assert metrics["accuracy"] >= MIN_TEST_ACCURACY
    # imputing x_M from x_o beats predicting the training set's mean x_M image
    mean_image = result.data.train.batch()[1].mean(0)
    test_x_m = result.data.test.batch()[1]
    baseline_rmse = float((test_x_m - mean_image).pow(2).mean().sqrt())
    print(f"x_M RMSE {metrics['rmse']['x_m']:.4f} vs {baseline_rmse:.4f} for the mean image")
    assert metrics["rmse"]["x_m"] < baseline_rmse
