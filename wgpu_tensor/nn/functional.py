"""torch.nn.functional's names for wgpu_tensor's ops:

    import wgpu_tensor.nn.functional as F
    F.softmax(x, dim=-1); F.log_softmax(x, dim=-1)
    F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=False, scale=None)
"""
from __future__ import annotations

from ..opdefs import OPS
from ..tensor import apply


def softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002 (PyTorch's names)
    """torch.nn.functional.softmax: softmax along ``dim`` (required); ``dtype=`` casts the
    input first. A row of only -inf gives NaN, as in PyTorch."""
    return apply(OPS["softmax"], input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """torch.nn.functional.log_softmax along ``dim`` (required)."""
    return apply(OPS["log_softmax"], input, dim, dtype=dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """torch.nn.functional.scaled_dot_product_attention: softmax(q @ k^T * scale + mask) @ v.

    ``attn_mask``: bool (True takes part) or float (added to the scores), broadcast to
    [..., L, S]; ``is_causal``: a lower-triangular mask (top-left aligned); ``scale``:
    default 1 / sqrt(E). A query row with every key masked gives zeros (PyTorch >= 2.5's
    math backend). ``dropout_p`` must be 0 and ``enable_gqa`` False (NotImplementedError).
    Differentiable in query, key, value (and a float mask)."""
    # All positional, so that a float mask that requires grad gets one.
    return apply(OPS["scaled_dot_product_attention"], query, key, value, attn_mask, dropout_p,
                 is_causal, scale, enable_gqa)
