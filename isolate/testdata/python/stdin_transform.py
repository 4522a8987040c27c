import sys, json

req = json.load(sys.stdin)
items = sorted(req["items"], key=lambda i: -i["score"])
print(json.dumps({"top": [i["id"] for i in items[:2]], "n": len(items)}))
sys.stderr.write("processed %d items\n" % len(items))
