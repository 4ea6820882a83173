"""The tiny model's architecture: the real GptOss layers and the o200k vocab, small enough to train on a CPU."""

from __future__ import annotations

from harness.assets import VOCAB_SIZE


def tiny_config():
    """The tiny gpt-oss architecture: the real GptOss layers and vocab, 2 layers, hidden 64, 4 experts. `head_dim`
    is 64 as in the real model: vLLM's CPU attention refuses 16 ("Unsupported CPU attention configuration"). Two
    query heads sharing one key/value head keep attention as small as the former 4 x 16 (and it learns as well)."""
    from transformers import GptOssConfig

    from harness.render.parser import ENDOFTEXT, STARTOFTEXT, STOP_IDS

    return GptOssConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=64, head_dim=64,
                        num_attention_heads=2, num_key_value_heads=1, num_local_experts=4, num_experts_per_tok=2,
                        vocab_size=VOCAB_SIZE, max_position_embeddings=131072, sliding_window=128,
                        layer_types=["sliding_attention", "full_attention"],
                        bos_token_id=STARTOFTEXT, eos_token_id=list(STOP_IDS), pad_token_id=ENDOFTEXT)
