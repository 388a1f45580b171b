"""bench.pods, the measurement behind the manifests' resources: its peak-RSS reading of a short
command must be that command's own, not the size of the (large) process that started it."""

import os
import sys

import psutil

from bench.pods import timed_child, tree_memory


def test_timed_child_reports_the_commands_own_peak():
    env = dict(os.environ)
    small = timed_child([sys.executable, "-S", "-c", "print('ok')"], env)
    big = timed_child([sys.executable, "-S", "-c",
                       "b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
                       "print('ok')"], env)
    assert small["exit"] == 0 and big["exit"] == 0
    assert small["output"] == ["ok"]
    # A bare interpreter is far smaller than this test process (which has loaded the app) ...
    this_process_mb = psutil.Process().memory_info().rss / 2**20
    assert small["peak_rss_mb"] < min(40, this_process_mb)
    # ... and 80 MB touched show up.
    assert big["peak_rss_mb"] - small["peak_rss_mb"] > 70


def test_tree_memory_counts_children():
    figures = tree_memory(os.getpid())
    assert figures["processes"] >= 1
    assert 0 < figures["uss_mb"] <= figures["pss_mb"] <= figures["rss_mb"]
