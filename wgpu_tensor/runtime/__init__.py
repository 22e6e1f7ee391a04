from .device import (Device, Buffer, Kernel, get_device, current_device, use_device,  # noqa: F401
                     override_limits, cache_limits, memory_limit, INSTALL_HINT)
