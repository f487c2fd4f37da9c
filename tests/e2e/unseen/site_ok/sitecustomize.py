"""A sitecustomize that works: the program sees it as its own."""
import sys

sys.customized = True
