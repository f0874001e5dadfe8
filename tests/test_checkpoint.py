import pytest
import torch

from aeflow.config import TrainConfig
from aeflow.errors import DataError
from aeflow.models.registry import build_model
from aeflow.training.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from aeflow.training.trainer import make_optimizer


def small_model():
    return build_model("autoencoder", {"hidden": [16], "code_dim": 3}, (1, 8, 8))


def test_weights_round_trip_exactly(tmp_path):
    a, b = small_model(), small_model()
    torch.nn.init.normal_(a.encoder[0].weight)
    save_weights(a, tmp_path / "w.safetensors")
    load_weights(b, tmp_path / "w.safetensors")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_checkpoint_round_trips_optimizer_and_rng(tmp_path):
    model = small_model()
    opt = make_optimizer(list(model.parameters()), TrainConfig(lr=1e-2, weight_decay=0.1))
    model.loss({"x": torch.rand(4, 1, 8, 8)})["loss"].backward()
    opt.step()
    rng = {"torch": torch.get_rng_state(), "shuffle": torch.Generator().manual_seed(1).get_state()}
    loop = {"epoch": 3, "batch_index": 2, "train_time": 1.5, "epoch_sums": {"loss": 4.0}, "epochs": 5,
            "steps_per_epoch": 10}
    save_checkpoint(tmp_path / "c.safetensors", model, {"": opt}, rng, loop)
    model2 = small_model()
    opt2 = make_optimizer(list(model2.parameters()), TrainConfig(lr=1.0))
    rng2, state = load_checkpoint(tmp_path / "c.safetensors", model2, {"": opt2})
    assert state == loop
    assert torch.equal(rng2["torch"], rng["torch"])
    assert opt2.param_groups[0]["lr"] == 1e-2 and opt2.param_groups[0]["weight_decay"] == 0.1
    for p, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(opt.state[p]["exp_avg_sq"], opt2.state[p2]["exp_avg_sq"])


def test_corrupt_or_foreign_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(DataError, match="cannot read .*bad.safetensors as safetensors"):
        load_weights(small_model(), bad)
    other = build_model("autoencoder", {"hidden": [8], "code_dim": 3}, (1, 8, 8))
    save_weights(other, tmp_path / "other.safetensors")
    with pytest.raises(DataError, match="does not match the model"):
        load_weights(small_model(), tmp_path / "other.safetensors")
    with pytest.raises(DataError, match="not an aeflow training checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors", small_model(),
                        {"": make_optimizer(list(small_model().parameters()), TrainConfig())})
