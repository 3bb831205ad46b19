"""Import tracer of the device rehearsal (tests/rehearse), installed in the arm64 root only.

Python imports `sitecustomize` at start; this one records, at exit, every module the run imported
and the file it came from, into the file named by SSDLITE_REHEARSAL_IMPORTS (tab-separated), and
the GStreamer plugins the run loaded (lines "gst-plugin:NAME<tab>FILE"). The rehearsal maps each
file to the board package that holds it.
"""
import atexit
import os
import sys


def _write_imports(path=os.environ.get("SSDLITE_REHEARSAL_IMPORTS")):
    if not path:
        return
    with open(path, "w") as trace:
        for name, module in sorted(sys.modules.items()):
            trace.write("%s\t%s\n" % (name, getattr(module, "__file__", None) or ""))
        gst = sys.modules.get("gi.repository.Gst")
        if gst is not None and gst.is_initialized():
            for plugin in gst.Registry.get().get_plugin_list():
                if plugin.is_loaded() and plugin.get_filename():
                    trace.write("gst-plugin:%s\t%s\n" % (plugin.get_name(), plugin.get_filename()))


atexit.register(_write_imports)
