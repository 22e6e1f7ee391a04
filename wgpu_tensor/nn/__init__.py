"""wgpu_tensor.nn: PyTorch's torch.nn namespace, as far as wgpu_tensor has it
(``functional``: softmax, log_softmax, scaled_dot_product_attention)."""
from . import functional  # noqa: F401
