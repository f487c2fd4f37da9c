"""A sitecustomize that ends the interpreter while it starts."""
print("sitecustomize ran")
raise SystemExit(3)
