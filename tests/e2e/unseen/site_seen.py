"""What the program sees of its sitecustomize."""
import os
import sys

mod = sys.modules.get("sitecustomize")
print("sitecustomize:", mod and os.path.relpath(mod.__file__, os.path.dirname(__file__)),
      getattr(mod, "__loader__", None).__class__.__name__)
print("customized:", getattr(sys, "customized", False))
