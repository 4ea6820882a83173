"""A plain-torch forward of GptOss with a shared prefix (same weights, same math as transformers' eager path).

Training computes each shared system + policy prefix once per step and attends the batch's cases to it; only the
vocab rows the data uses are trained (a small input table). `training.check_forward` compares it with
transformers' own forward before training.
"""

from __future__ import annotations


class PrefixForward:
    """Hidden states of [prefix + suffix_b] for a batch of suffixes, the prefix computed once."""

    def __init__(self, model, in_vocab, frozen_vocab=None):
        """in_vocab: the token ids whose input rows are trained; frozen_vocab: ids read at their current (random)
        rows and never trained, the stand-ins for the unseen words of held-out cases."""
        import torch

        self.model = model
        base = model.model
        self.config = model.config
        self.in_vocab = in_vocab
        self.in_map = torch.full((self.config.vocab_size,), -1, dtype=torch.long)
        if frozen_vocab is not None and len(frozen_vocab):
            self.in_map[frozen_vocab] = -2 - torch.arange(len(frozen_vocab))
            self.frozen = base.embed_tokens.weight.detach()[frozen_vocab].clone()
        else:
            self.frozen = base.embed_tokens.weight.detach()[:1].clone()
        self.in_map[in_vocab] = torch.arange(len(in_vocab))
        # Only the rows the data uses are trained: a small table instead of a dense 201088-row gradient.
        self.embed = torch.nn.Parameter(base.embed_tokens.weight.detach()[in_vocab].clone())

    def embed_ids(self, ids):
        import torch

        index = self.in_map[ids]
        if bool((index == -1).any()):
            raise RuntimeError("a token outside the training vocab reached the training forward")
        trained = self.embed[index.clamp(min=0)]
        if not bool((index < 0).any()):
            return trained
        frozen = self.frozen[(-2 - index).clamp(min=0)]
        return torch.where((index >= 0)[..., None], trained, frozen)

    def hidden(self, prefix, suffixes, keep=None):
        """Final-norm hidden states of suffix positions `keep` [B, K] (default: all) -> [B, K, d].

        prefix: LongTensor [p], shared by the batch; suffixes: LongTensor [B, s] (right-padded). The last layer
        computes only the kept positions (the ones a loss reads); every position still gives its keys and values.
        """
        import torch

        base = self.model.model
        batch, s_len = suffixes.shape
        p_len = prefix.shape[0]
        if keep is None:
            keep = torch.arange(s_len).expand(batch, -1)
        x_p = self.embed_ids(prefix)[None]
        x_s = self.embed_ids(suffixes)
        pos_p = torch.arange(p_len)
        pos_s = torch.arange(p_len, p_len + s_len).expand(batch, -1)
        rope_p = base.rotary_emb(x_p, pos_p[None])
        rope_s = base.rotary_emb(x_s, pos_s[:1])
        layers = base.layers[: self.config.num_hidden_layers]
        for index, layer in enumerate(layers):
            attn = layer.self_attn
            q_p, k_p, v_p = _qkv(attn, layer.input_layernorm(x_p), rope_p)
            q_s, k_s, v_s = _qkv(attn, layer.input_layernorm(x_s), rope_s)
            q_pos = pos_s
            if index == len(layers) - 1:  # only the kept queries matter from here on
                q_s = q_s.gather(2, keep[:, None, :, None].expand(-1, q_s.shape[1], -1, q_s.shape[3]))
                x_s = x_s.gather(1, keep[:, :, None].expand(-1, -1, x_s.shape[2]))
                q_pos = p_len + keep
            out_s = _attend_suffix(attn, q_s, k_p, v_p, k_s, v_s, p_len, q_pos)
            x_s = x_s + attn.o_proj(out_s)
            x_s = x_s + _moe(layer.mlp, layer.post_attention_layernorm(x_s))
            if index < len(layers) - 1:  # the last layer's prefix output is never read: only its keys and values
                out_p = _attend(attn, q_p, k_p, v_p, pos_p, pos_p)
                x_p = x_p + attn.o_proj(out_p)
                x_p = x_p + _moe(layer.mlp, layer.post_attention_layernorm(x_p))
        return base.norm(x_s)


def _qkv(attn, x, rope):
    from transformers.models.gpt_oss.modeling_gpt_oss import apply_rotary_pos_emb

    shape = (*x.shape[:-1], -1, attn.head_dim)
    q = attn.q_proj(x).view(shape).transpose(1, 2)
    k = attn.k_proj(x).view(shape).transpose(1, 2)
    v = attn.v_proj(x).view(shape).transpose(1, 2)
    cos, sin = rope
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    return q, k, v


def _attend(attn, q, k, v, q_pos, k_pos):
    """Causal (and sliding-window) attention with the per-head sink logit, as the eager GptOss attention."""
    import torch
    import torch.nn.functional as F

    groups = attn.num_key_value_groups
    k = k.repeat_interleave(groups, dim=1)
    v = v.repeat_interleave(groups, dim=1)
    scores = torch.matmul(q, k.transpose(2, 3)) * attn.scaling
    allowed = k_pos[None, :] <= q_pos[:, None]
    if attn.sliding_window is not None:
        allowed = allowed & (k_pos[None, :] > q_pos[:, None] - attn.sliding_window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    sinks = attn.sinks.reshape(1, -1, 1, 1).expand(q.shape[0], -1, q.shape[2], 1)
    logits = torch.cat([scores, sinks], dim=-1)
    probs = F.softmax(logits - logits.max(dim=-1, keepdim=True).values, dim=-1)[..., :-1]
    out = torch.matmul(probs, v).transpose(1, 2)
    return out.reshape(*out.shape[:2], -1)


def _attend_suffix(attn, q, k_p, v_p, k_s, v_s, p_len, q_pos):
    """Suffix queries over [shared prefix keys + own causal keys], one softmax with the sink, as `_attend`.

    q: [B, H, K, d] at absolute positions q_pos [B, K]; the suffix keys sit at p_len, p_len + 1, ... The prefix
    keys are shared by the whole batch (one matmul, not a copy per case); a sliding-window layer only reads the
    prefix keys inside its window.
    """
    import torch
    import torch.nn.functional as F

    batch, heads, q_len, head_dim = q.shape
    s_len = k_s.shape[2]
    groups = attn.num_key_value_groups
    window = attn.sliding_window
    start = max(0, p_len - window + 1) if window is not None else 0
    k_p = k_p[0, :, start:].repeat_interleave(groups, dim=0)  # [H, p', d]
    v_p = v_p[0, :, start:].repeat_interleave(groups, dim=0)
    k_s = k_s.repeat_interleave(groups, dim=1)
    v_s = v_s.repeat_interleave(groups, dim=1)
    q_flat = q.permute(1, 0, 2, 3).reshape(heads, batch * q_len, head_dim)
    scores_p = torch.matmul(q_flat, k_p.transpose(1, 2)).view(heads, batch, q_len, -1).permute(1, 0, 2, 3)
    scores_p = scores_p * attn.scaling
    scores_s = torch.matmul(q, k_s.transpose(2, 3)) * attn.scaling
    q_at = q_pos[:, None, :, None]  # [B, 1, K, 1]
    k_at = torch.arange(p_len, p_len + s_len)
    allowed_s = k_at <= q_at
    if window is not None:
        allowed_s = allowed_s & (k_at > q_at - window)
        scores_p = scores_p.masked_fill(~(torch.arange(start, p_len) > q_at - window), float("-inf"))
    scores_s = scores_s.masked_fill(~allowed_s, float("-inf"))
    sinks = attn.sinks.reshape(1, -1, 1, 1).expand(batch, -1, q_len, 1)
    logits = torch.cat([scores_p, scores_s, sinks], dim=-1)
    probs = F.softmax(logits - logits.max(dim=-1, keepdim=True).values, dim=-1)
    p_width = scores_p.shape[-1]
    probs_p, probs_s = probs[..., :p_width], probs[..., p_width:-1]
    out_p = torch.matmul(probs_p.permute(1, 0, 2, 3).reshape(heads, batch * q_len, p_width), v_p)
    out = out_p.view(heads, batch, q_len, head_dim).permute(1, 0, 2, 3) + torch.matmul(probs_s, v_s)
    return out.transpose(1, 2).reshape(batch, q_len, -1)


def _moe(mlp, x):
    """Top-k routed experts, computed densely (4 tiny experts: cheaper than gathering tokens per expert)."""
    import torch
    import torch.nn.functional as F

    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    router, experts = mlp.router, mlp.experts
    logits = F.linear(flat, router.weight, router.bias)
    top_values, top_index = torch.topk(logits, router.top_k, dim=-1)
    weights = torch.zeros_like(logits).scatter(1, top_index, F.softmax(top_values, dim=1))
    gate_up = torch.einsum("nd,edf->nef", flat, experts.gate_up_proj) + experts.gate_up_proj_bias
    gate, up = gate_up[..., ::2], gate_up[..., 1::2]
    gate = gate.clamp(max=experts.limit)
    up = up.clamp(min=-experts.limit, max=experts.limit)
    gated = (up + 1) * (gate * torch.sigmoid(gate * experts.alpha))
    out = torch.einsum("nei,eid->ned", gated, experts.down_proj) + experts.down_proj_bias
    return (out * weights[..., None]).sum(1).reshape(shape)
