import json
import re

doc = json.loads('{"users": [{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}], "ok": true}')
print(json.dumps(doc, sort_keys=True))
print(json.dumps(doc["users"], indent=2))
print(sum(u["age"] for u in doc["users"]))
text = "Contact: ada@example.org, alan@example.com; bob at nowhere"
print(re.findall(r"[\w.]+@[\w.]+", text))
print(re.sub(r"(\w+)@(\w+)", r"\2 at \1", text))
m = re.match(r"(?P<k>\w+):\s*(?P<v>.*)", text)
print(m.group("k"), "|", m.group("v")[:10])
print(json.dumps({"s": "é\u2028", "n": 1e100, "f": 0.1 + 0.2}))
