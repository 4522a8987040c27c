from dataclasses import dataclass, field
import string
import struct
import urllib.parse


@dataclass(order=True)
class Item:
    name: str
    tags: list = field(default_factory=list)


def gen(n):
    for i in range(n):
        if i % 2:
            yield i * i


class Shape:
    def area(self):
        raise NotImplementedError


class Sq(Shape):
    def __init__(self, s):
        self.s = s

    def area(self):
        return self.s ** 2


print(sorted([Item("b"), Item("a", ["x"])]))
print(list(gen(10)), {k: v for k, v in zip("abc", range(3))}, {1, 2} | {3})
print(f"{3.14159:.2f} {255:#x} {'left':<6}| {1234567:,}")
try:
    Shape().area()
except NotImplementedError as e:
    print("caught", type(e).__name__)
print(Sq(7).area(), string.ascii_lowercase[:5], struct.pack("<IH", 1, 2))
print(urllib.parse.urlparse("https://x.test/a/b?q=1&r=2#f").query, urllib.parse.quote("a b/c"))
print(sorted({"b": 2, "a": 1}.items()), "ünïcode".upper(), len("😀"), "😀".encode())
match (1, [2, 3]):
    case (a, [b, *rest]):
        print("match", a, b, rest)
