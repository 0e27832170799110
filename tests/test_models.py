"""Built-in offline models, model resolution with clear offline errors, quantized and adapter loading."""

from __future__ import annotations

import threading

import pytest
import torch

from pericomp_lib.llm import models

TINY = {"model_name_or_path": "tiny-random", "dtype": "float32", "device": "cpu"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two OpenMP threads on a busy 2-core machine spin-wait; one thread is several times faster here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ids(tok):
    return tok(["Postoperative day 2: creatinine 182 umol/L."], return_tensors="pt")


def test_tiny_random_is_cached_and_deterministic():
    folder = models.prepare_builtin("tiny-random")
    assert (folder / "config.json").exists() and (folder / "tokenizer.json").exists()
    assert models.resolve_model("tiny-random") == str(folder)
    model, tok = models.load_model(TINY)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    assert tok.chat_template and tok.pad_token is not None and tok.padding_side == "left"
    assert len(tok) == model.config.vocab_size == 49152  # the real SmolLM2 vocabulary
    again, _ = models.load_model(TINY)
    with torch.no_grad():
        torch.testing.assert_close(model(**_ids(tok)).logits, again(**_ids(tok)).logits)


def test_prepare_builtin_race_leaves_one_folder(tmp_path, monkeypatch):
    """Several processes may build the cache at once: each builds in its own temp folder, one wins."""
    monkeypatch.setenv("PERICOMP_CACHE", str(tmp_path))
    gate = threading.Barrier(3)

    def slow_build(dest):
        gate.wait()  # all three builders are mid-build together
        (dest / "config.json").write_text(f'{{"builder": "{threading.get_ident()}"}}')

    monkeypatch.setattr(models, "_build_tiny", slow_build)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(models.prepare_builtin("tiny-random"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-random"]  # no temp folders left behind
    assert "builder" in (tmp_path / "tiny-random" / "config.json").read_text()


def test_building_the_cache_leaves_the_random_state_alone(tmp_path, monkeypatch):
    """A seeded run must start LoRA from the same numbers on a fresh machine (the cache built in this process)
    as on one whose cache exists: the builder's own random init must not move the caller's generator."""
    monkeypatch.setenv("PERICOMP_CACHE", str(tmp_path))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    models.prepare_builtin("tiny-random")  # builds: the cache is empty
    assert (tmp_path / "tiny-random" / "config.json").exists()
    assert torch.equal(torch.rand(3), expected)


def test_smollm2_package_is_found():
    gguf = models.smollm2_gguf()
    assert gguf.name == models.SMOLLM2_GGUF and gguf.stat().st_size > 50_000_000


@pytest.mark.slow
def test_smollm2_cache_matches_gguf_weights():
    """The converted safetensors hold exactly the dequantised GGUF weights (checked on a few tensors)."""
    folder = models.cache_root() / "smollm2-135m"
    if not (folder / "config.json").exists():
        pytest.skip("smollm2-135m not converted yet: `python -m pericomp_lib prepare-model smollm2-135m` (~50 s)")
    from gguf import GGUFReader
    from safetensors import safe_open

    reader = GGUFReader(str(models.smollm2_gguf()))
    norms = {t.name: t for t in reader.tensors if t.name in ("output_norm.weight", "blk.0.attn_norm.weight")}
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        final = f.get_tensor("model.norm.weight")
        first = f.get_tensor("model.layers.0.input_layernorm.weight")
    torch.testing.assert_close(final, torch.tensor(norms["output_norm.weight"].data.copy()).float())
    torch.testing.assert_close(first, torch.tensor(norms["blk.0.attn_norm.weight"].data.copy()).float())


def test_unknown_hub_id_offline_names_the_download(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelNotFoundError) as e:
        models.resolve_model("pericomp-test/no-such-model")
    msg = str(e.value)
    assert "hf download pericomp-test/no-such-model" in msg and "local folder" in msg


def test_missing_local_folder_is_clear(tmp_path):
    with pytest.raises(models.ModelNotFoundError, match="no such folder"):
        models.resolve_model(str(tmp_path / "nope"))
    with pytest.raises(models.ModelNotFoundError, match="built-in"):
        models.prepare_builtin("gpt-5")


def test_load_4bit_on_cpu():
    model, tok = models.load_model({**TINY, "quantization": "4bit"})
    import bitsandbytes as bnb

    assert isinstance(model.model.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    with torch.no_grad():
        logits = model(**_ids(tok)).logits
    assert torch.isfinite(logits).all()


def test_adapter_loads_and_disables_to_base(tmp_path):
    from peft import LoraConfig, get_peft_model

    base, tok = models.load_model(TINY)
    with torch.no_grad():
        ref = base(**_ids(tok)).logits
    torch.manual_seed(0)
    lora = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    lora.save_pretrained(tmp_path / "run" / "adapter")

    for where in (tmp_path / "run" / "adapter", tmp_path / "run"):  # the adapter folder or the training out_dir
        model, tok = models.load_model(TINY, adapter=str(where))
        with torch.no_grad():
            tuned = model(**_ids(tok)).logits
            with model.disable_adapter():
                plain = model(**_ids(tok)).logits
        assert not torch.allclose(tuned, ref, atol=1e-4)
        torch.testing.assert_close(plain, ref)
    with pytest.raises(models.ModelNotFoundError, match="adapter_config.json"):
        models.load_model(TINY, adapter=str(tmp_path))


def test_cli_prepare_model(capsys):
    assert models.cli(["tiny-random"]) == 0
    assert "tiny-random" in capsys.readouterr().out
