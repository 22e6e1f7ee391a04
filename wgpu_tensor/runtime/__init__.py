from .device import (Device, Buffer, Kernel, get_device, override_limits, cache_limits,  # noqa: F401
                     memory_limit, INSTALL_HINT)
