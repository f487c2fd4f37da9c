"""A sitecustomize that fails: site prints a one-line error and goes on."""
print("sitecustomize ran")
{}["missing"]
