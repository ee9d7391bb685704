"""One installer module per host application (``nuke.py``, ``resolve.py``)."""
