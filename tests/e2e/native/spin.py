"""CPU spent in a C extension's static function, from one Python caller."""
import sys

sys.path.insert(0, sys.argv[1])
import spinext  # noqa: E402


def spin_it():
    for _ in range(40):
        spinext.spin(20_000_000)


spin_it()
print("ok")
