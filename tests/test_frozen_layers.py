"""cache_frozen_layers: the layers below the adapters run once per row; the loss and gradients are the plain ones."""

from __future__ import annotations

import pytest

from pericomp_lib.training import frozen_layers, packing
from pericomp_lib.training.train_inputs import TrainingError
from test_frozen_record import (  # noqa: F401 (tok: a fixture)
    _batch,
    _model,
    _nudge,
    _params,
    _rows,
    assert_same_loss_and_grads,
    tok,
)


@pytest.mark.parametrize("top", [1, 2])
def test_kept_states_give_the_loss_and_gradients_of_lora_on_every_token(tok, top):  # noqa: F811
    params = _params(lora_layers=top, frozen_record=False, cache_frozen_layers=True)
    model = _model(tok, params)
    _nudge(model)
    rows = _rows(tok, params)
    kept = frozen_layers.FrozenLayers(model, rows, top)
    for row in rows:
        batch = _batch(tok, row)
        plain = {k: v for k, v in batch.items() if k != "rows"}
        for _visit in range(2):  # the first visit fills the store, the second reads it
            assert_same_loss_and_grads(
                model,
                lambda b=batch: kept.answer_loss(model, b, b["rows"])[:2],
                lambda b=plain: packing.answer_loss(model, b)[:2],
            )
        model.zero_grad()
        kept.answer_loss(model, batch, batch["rows"])[0].backward()
        assert any(p.grad.abs().sum() > 0 for k, p in model.named_parameters() if "lora_B" in k and p.grad is not None)
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
