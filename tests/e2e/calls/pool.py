"""A Pool used as a context manager: leaving the block terminates the
workers with SIGTERM, right after their last task."""
import multiprocessing


def work(x):
    return x * 2


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(sum(pool.map(work, range(40), chunksize=1)))
