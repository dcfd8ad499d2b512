"""Put on PYTHONPATH to run a process with no network: every connection or name lookup
outside 127.0.0.1 fails at once, with the errors a machine without internet access gives."""

import socket

_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo


def _local(host: object) -> bool:
    return host in (None, "localhost", "::1") or str(host).startswith("127.")


def connect(self, address, *args):  # type: ignore[no-untyped-def]
    if isinstance(address, tuple) and not _local(address[0]):
        raise OSError(101, "Network is unreachable")
    return _connect(self, address, *args)


def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if not _local(host):
        raise socket.gaierror(-2, "Name or service not known")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
