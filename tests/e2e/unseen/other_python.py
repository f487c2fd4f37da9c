"""Runs another Python, given as argv[1], as a child: it inherits
PYTHONPATH and must start as it would without pyscope."""
import subprocess
import sys

child = subprocess.run([sys.argv[1], "-c", "import sys; print('sitecustomize' in sys.modules)"],
                       capture_output=True)
print(child.returncode, child.stdout, child.stderr)
