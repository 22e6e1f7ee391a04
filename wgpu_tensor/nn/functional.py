"""torch.nn.functional's names for wgpu_tensor's ops:

    import wgpu_tensor.nn.functional as F
    F.softmax(x, dim=-1); F.log_softmax(x, dim=-1)
    F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=False, scale=None)
"""
from __future__ import annotations

from ..dtypes import DType
from ..opdefs import OPS
from ..tensor import Tensor, apply


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002 (PyTorch's names)
            dtype: DType | str | None = None) -> Tensor:
    """torch.nn.functional.softmax: softmax along ``dim`` (required); ``dtype=`` casts the
    input first. A row of only -inf gives NaN, as in PyTorch.

    >>> import wgpu_tensor.nn.functional as F
    >>> F.softmax(wt.tensor([[1., 1.], [0., 0.]]), dim=1)
    tensor([[0.5000, 0.5000],
            [0.5000, 0.5000]])
    """
    return apply(OPS["softmax"], input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
                dtype: DType | str | None = None) -> Tensor:
    """torch.nn.functional.log_softmax along ``dim`` (required).

    >>> import wgpu_tensor.nn.functional as F
    >>> F.log_softmax(wt.tensor([0., 0.]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    return apply(OPS["log_softmax"], input, dim, dtype=dtype)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """torch.nn.functional.scaled_dot_product_attention: softmax(q @ k^T * scale + mask) @ v.

    ``attn_mask``: bool (True takes part) or float (added to the scores), broadcast to
    [..., L, S]; ``is_causal``: a lower-triangular mask (top-left aligned); ``scale``:
    default 1 / sqrt(E). A query row with every key masked gives zeros (PyTorch >= 2.5's
    math backend). ``dropout_p`` must be 0 and ``enable_gqa`` False (NotImplementedError).
    Differentiable in query, key, value (and a float mask).

    >>> import wgpu_tensor.nn.functional as F
    >>> q = k = wt.ones(1, 2, 4)
    >>> v = wt.tensor([[[1., 2.], [3., 4.]]])
    >>> F.scaled_dot_product_attention(q, k, v)
    tensor([[[2., 3.],
             [2., 3.]]])
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True)
    tensor([[[1., 2.],
             [2., 3.]]])
    """
    # All positional, so that a float mask that requires grad gets one.
    return apply(OPS["scaled_dot_product_attention"], query, key, value, attn_mask, dropout_p,
                 is_causal, scale, enable_gqa)
