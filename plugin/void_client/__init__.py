"""VOID Remove host-side client: wire protocol, daemon client, EXR sequences, quadmask.

This package is light on purpose (numpy, pyzmq, msgpack, OpenImageIO): it runs inside
Nuke's and Resolve's Python and must never import torch.
"""

__version__ = "0.1.0"
