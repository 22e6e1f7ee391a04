"""Exceptions for failures on the GPU side (not bad input: those are TypeError,
ValueError, IndexError, ... raised by the ops before any GPU work).

wgpu-py 0.32 raises ``wgpu.GPUValidationError`` from the wgpu call that hit a
validation error (shader compilation, bind groups, ``encoder.finish()``); an
error in ``queue.submit`` aborts the process inside wgpu-native, so the runtime
must make sure invalid work is caught at ``finish()``, before it is submitted.
These classes turn the wgpu errors into messages that say what the runtime was
doing and what happened to the work recorded so far.
"""
from __future__ import annotations


class GPUError(RuntimeError):
    """A GPU operation failed (a shader that does not compile, a pipeline or a
    batch of recorded work that wgpu rejected). The wgpu error is the cause."""


class ShaderError(GPUError):
    """A WGSL shader (rendered from its template) did not compile or link."""


class DeviceLostError(GPUError):
    """The WebGPU device was lost (driver reset, destroyed): every later GPU
    call raises this again; tensors on the device are gone."""


def is_device_lost(exc) -> bool:
    msg = str(exc).lower()
    return "device is lost" in msg or "device lost" in msg or "device was lost" in msg


def shader_error(name, params, exc) -> ShaderError:
    """The error for a shader ``name`` rendered with ``params`` that wgpu rejected."""
    first = _first_lines(exc)
    return ShaderError(f"the WGSL shader {name}.wgsl (params {dict(params)}) was rejected by wgpu: "
                       f"{first}. This is a bug in wgpu_tensor or its shaders; the device is "
                       "still usable")


def batch_error(exc, dropped) -> GPUError:
    """The error for a batch of ``dropped`` recorded commands that wgpu rejected at
    ``finish()``: the batch was discarded (its outputs are unspecified) and the
    device starts a fresh one, so the next call works."""
    if is_device_lost(exc):
        return DeviceLostError(f"the WebGPU device was lost; {dropped} recorded GPU commands were "
                               f"discarded ({_first_lines(exc)})")
    return GPUError(f"wgpu rejected a batch of {dropped} recorded GPU commands: {_first_lines(exc)}. "
                    "The batch was discarded (tensors it would have written are unspecified); "
                    "the next call starts a fresh batch")


def _first_lines(exc, n=6):
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return " / ".join(lines[:n]) or type(exc).__name__
