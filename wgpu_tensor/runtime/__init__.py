from .device import Device, Buffer, Kernel, get_device, override_limits, INSTALL_HINT  # noqa: F401
