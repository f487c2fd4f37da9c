"""Does to the database pyscope records it into what another process
might: removes it with its -wal and -shm files ('remove'), or also puts
another run's database and journal in their place ('replace')."""
import os
import sys

how, db = sys.argv[1], sys.argv[2]
for suffix in ("", "-wal", "-shm"):
    os.unlink(db + suffix)
if how == "replace":
    with open(db, "w") as f:
        f.write("another run's database")
    with open(db + "-wal", "w") as f:
        f.write("another run's journal")
print(how, "done", flush=True)
