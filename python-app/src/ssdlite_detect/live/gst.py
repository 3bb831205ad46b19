"""GStreamer through PyGObject, imported once and only by the live mode.

The still-image path must keep working on an image built without the live mode's packages
(python3-pygobject, GStreamer and its typelibs), so nothing imports this module at start-up.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Optional

from ..errors import LiveUnavailableError

_GST: Optional[SimpleNamespace] = None
_TYPELIBS = (("Gst", "1.0"), ("GstApp", "1.0"), ("GstVideo", "1.0"))


def load() -> SimpleNamespace:
    """Gst, GstApp, GstVideo and GLib, initialised; LiveUnavailableError naming what is missing."""
    global _GST
    if _GST is not None:
        return _GST
    try:
        import gi
    except ImportError:
        raise LiveUnavailableError(
            "the live mode needs PyGObject and GStreamer: install python3-ssdlite-detect-live "
            "on the board (Debian: python3-gi gir1.2-gst-plugins-base-1.0)"
        ) from None
    for namespace, version in _TYPELIBS:
        try:
            gi.require_version(namespace, version)
        except ValueError:
            raise LiveUnavailableError(
                f"the live mode needs the {namespace}-{version} typelib: install "
                "python3-ssdlite-detect-live on the board (Debian: gir1.2-gst-plugins-base-1.0)"
            ) from None
    from gi.repository import GLib, Gst, GstApp, GstVideo

    Gst.init(None)
    _GST = SimpleNamespace(Gst=Gst, GstApp=GstApp, GstVideo=GstVideo, GLib=GLib)
    return _GST


def element_available(name: str) -> bool:
    """Whether an element factory is registered (NXP's register only if their device exists)."""
    return load().Gst.ElementFactory.find(name) is not None
