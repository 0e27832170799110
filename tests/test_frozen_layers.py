"""cache_frozen_layers: the layers below the adapters run once per row; the loss and gradients are the plain ones."""

from __future__ import annotations

import pytest
import torch

from conftest import constrained_params
from pericomp_lib.training import frozen_layers, packing
from pericomp_lib.training.train_inputs import TrainingError
from test_frozen_record import COMPLICATIONS, _batch, _model, _nudge, _rows, tok  # noqa: F401 (tok: a fixture)


@pytest.mark.parametrize("top", [1, 2])
def test_kept_states_give_the_loss_and_gradients_of_lora_on_every_token(tok, top):  # noqa: F811
    params = constrained_params(
        answer_layout="evidence_first",
        complications=COMPLICATIONS,
        packing=True,
        batch_size=1,
        lora_dropout=0.0,
        lora_layers=top,
        cache_frozen_layers=True,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    model = _model(tok, params)
    _nudge(model)
    rows = _rows(tok, params)
    kept = frozen_layers.FrozenLayers(model, rows, top)
    for row in rows:
        batch = _batch(tok, row)
        for visit in range(2):  # the first visit fills the store, the second reads it
            model.zero_grad()
            loss, n, _ = kept.answer_loss(model, batch, batch["rows"])
            loss.backward()
            got = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
            model.zero_grad()
            ref, n_ref, _ = packing.answer_loss(model, {k: v for k, v in batch.items() if k != "rows"})
            ref.backward()
            want = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
            assert n == n_ref and torch.allclose(loss, ref, rtol=1e-5, atol=1e-5), (visit, loss, ref)
            assert got.keys() == want.keys() and got
            assert any("lora_B" in k and got[k].abs().sum() > 0 for k in got)
            for k in got:
                assert torch.allclose(got[k], want[k], rtol=1e-4, atol=1e-6), k
    assert set(kept.store) == set(range(len(rows)))


def test_settings_it_cannot_train_with_are_refused():
    base = {"cache_frozen_layers": True, "lora_layers": 2, "batch_size": 1}
    frozen_layers.check({**base, "frozen_record": False})
    for bad, match in (
        ({"frozen_record": True}, "frozen_record: false"),
        ({"lora_layers": None}, "needs lora_layers"),
        ({"batch_size": 4}, "batch_size: 1"),
    ):
        with pytest.raises(TrainingError, match=match):
            frozen_layers.check({**base, **bad})
    with pytest.raises(TrainingError, match="DDP"):
        frozen_layers.check(base, world_size=2)
