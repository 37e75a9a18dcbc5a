"""A plugin whose import fails, as one does when a compiled dependency is missing."""
raise ImportError("libfoo.so.3: cannot open shared object file (install libfoo3)")
