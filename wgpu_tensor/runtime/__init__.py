from .device import Device, Buffer, Kernel, get_device, INSTALL_HINT  # noqa: F401
