"""Write a tiny random qwen2 GGUF (byte-level BPE, ChatML template) for hermetic llama.cpp tests.

Its answers are noise, but llama.cpp runs it exactly as it runs the real model: tokenizer, chat
template, KV cache, sequences, samplers. It loads in milliseconds and needs no model package.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _byte_tokens() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes, in byte order."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    table = dict(zip(bs, cs, strict=True))
    return [chr(table[b]) for b in range(256)]


def _string(s: str) -> bytes:
    data = s.encode()
    return struct.pack("<Q", len(data)) + data


def _value(v: Any) -> bytes:
    if isinstance(v, bool):
        return struct.pack("<I?", 7, v)
    if isinstance(v, int):  # scalars are uint32 in GGUF's llama.cpp keys, token types int32
        return struct.pack("<II", 4, v)
    if isinstance(v, float):
        return struct.pack("<If", 6, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + _string(v)
    if v and isinstance(v[0], str):
        return struct.pack("<IIQ", 9, 8, len(v)) + b"".join(_string(x) for x in v)
    return struct.pack("<IIQ", 9, 5, len(v)) + b"".join(struct.pack("<i", x) for x in v)


def write_tiny_qwen2(path: Path, seed: int = 0, n_embd: int = 64, n_layer: int = 2) -> Path:
    """Write the model to ``path``; ``<|im_end|>`` is its end-of-sequence token."""
    tokens = [*_byte_tokens(), "Ġt", "Ġa", *SPECIALS]
    types = [1] * (len(tokens) - len(SPECIALS)) + [3] * len(SPECIALS)  # normal, control
    vocab, n_head, n_kv, ff = len(tokens), 4, 2, 2 * n_embd
    kv: dict[str, Any] = {
        "general.architecture": "qwen2", "general.name": "tiny random qwen2", "general.file_type": 0,
        "qwen2.block_count": n_layer, "qwen2.context_length": 4096, "qwen2.embedding_length": n_embd,
        "qwen2.feed_forward_length": ff, "qwen2.attention.head_count": n_head,
        "qwen2.attention.head_count_kv": n_kv, "qwen2.rope.freq_base": 10000.0,
        "qwen2.attention.layer_norm_rms_epsilon": 1e-6,
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types, "tokenizer.ggml.merges": ["Ġ t", "Ġ a"],
        "tokenizer.ggml.eos_token_id": vocab - 1, "tokenizer.ggml.bos_token_id": vocab - 3,
        "tokenizer.ggml.padding_token_id": vocab - 3, "tokenizer.ggml.add_bos_token": False,
        "tokenizer.chat_template": CHATML,
    }
    rng = np.random.default_rng(seed)
    head_dim = n_embd // n_head

    def rand(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    tensors: dict[str, np.ndarray] = {"token_embd.weight": rand(vocab, n_embd, scale=1.0)}
    for i in range(n_layer):
        b = f"blk.{i}."
        tensors |= {
            b + "attn_norm.weight": np.ones(n_embd, np.float32),
            b + "attn_q.weight": rand(n_embd, n_embd), b + "attn_q.bias": rand(n_embd),
            b + "attn_k.weight": rand(n_kv * head_dim, n_embd), b + "attn_k.bias": rand(n_kv * head_dim),
            b + "attn_v.weight": rand(n_kv * head_dim, n_embd), b + "attn_v.bias": rand(n_kv * head_dim),
            b + "attn_output.weight": rand(n_embd, n_embd),
            b + "ffn_norm.weight": np.ones(n_embd, np.float32),
            b + "ffn_gate.weight": rand(ff, n_embd), b + "ffn_up.weight": rand(ff, n_embd),
            b + "ffn_down.weight": rand(n_embd, ff),
        }
    tensors |= {"output_norm.weight": np.ones(n_embd, np.float32), "output.weight": rand(vocab, n_embd, scale=1.0)}

    align = 32
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    head += b"".join(_string(k) + _value(v) for k, v in kv.items())
    offset, infos, blobs = 0, [], []
    for name, arr in tensors.items():
        dims = arr.shape[::-1]  # GGUF lists the fastest-varying dimension first
        infos.append(_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
                     + struct.pack("<IQ", 0, offset))  # type 0 = F32
        data = arr.tobytes()
        data += b"\0" * (-len(data) % align)
        blobs.append(data)
        offset += len(data)
    meta = head + b"".join(infos)
    meta += b"\0" * (-len(meta) % align)
    path.write_bytes(meta + b"".join(blobs))
    return path
