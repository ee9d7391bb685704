"""Fakes of host application APIs (Resolve, Nuke): state and recorded calls, no behaviour."""
