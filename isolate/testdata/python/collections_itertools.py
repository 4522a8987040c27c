import collections
import itertools

c = collections.Counter("abracadabra")
print(c.most_common(3))
d = collections.defaultdict(list)
for k, v in [("a", 1), ("b", 2), ("a", 3)]:
    d[k].append(v)
print(dict(d))
q = collections.deque(range(5), maxlen=4)
q.appendleft(-1)
print(list(q))
P = collections.namedtuple("P", "x y")
print(P(1, 2), P(1, 2)._replace(y=5))
print(list(itertools.permutations("abc", 2)))
print([(k, len(list(g))) for k, g in itertools.groupby("aaabbcaa")])
print(list(itertools.accumulate([1, 2, 3, 4], lambda a, b: a * b)))
print(list(itertools.islice(itertools.count(10, 3), 5)))
print(list(itertools.chain.from_iterable([[1], [2, 3]])), list(itertools.product([0, 1], repeat=2)))
