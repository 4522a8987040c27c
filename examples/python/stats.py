# A Python script: the request body on stdin, the response body on stdout.
#   bin/warren run -d '3 1 4 1 5 9 2 6' examples/python/stats.py
import statistics
import sys

from fmt import table

nums = [float(x) for x in sys.stdin.read().split()]
if not nums:
    sys.exit("send numbers in the body, e.g. -d '3 1 4 1 5'")
print(table({
    "n": len(nums),
    "mean": statistics.mean(nums),
    "median": statistics.median(nums),
    "stdev": statistics.stdev(nums) if len(nums) > 1 else 0.0,
}))
