"""WGSL sources, shipped inside the wheel as wgpu_tensor/shaders/ (see runtime/shaders.py)."""
