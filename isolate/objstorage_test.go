package isolate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// storageSrc runs storage checks in a Durable Object: each check method
// returns a string the test compares.
const storageSrc = `import { DurableObject } from "cloudflare:workers";
const show = (m) => m instanceof Map ? "{" + [...m].map(([k, v]) => k + "=" + JSON.stringify(v)).join(",") + "}" : m === undefined ? "undefined" : JSON.stringify(m);
const err = async (f) => { try { await f(); return "no error"; } catch (e) { return e.name + ": " + e.message; } };
export class Store extends DurableObject {
  async run(name) { return String(await this[name](this.ctx.storage)); }
  async single(s) {
    const a = await s.get("k");
    await s.put("k", { x: [1, "two", null, true] });
    const b = await s.get("k");
    const d1 = await s.delete("k");
    const d2 = await s.delete("k");
    return [show(a), show(b), d1, d2, show(await s.get("k"))].join(" ");
  }
  async many(s) {
    const entries = {};
    for (let i = 0; i < 128; i++) entries["k" + String(i).padStart(3, "0")] = i;
    await s.put(entries);
    const keys = Object.keys(entries);
    const got = await s.get(keys);
    const n = await s.delete(keys.slice(0, 100));
    const left = await s.get(keys);
    return [got.size, got.get("k127"), n, left.size].join(" ");
  }
  async tooMany(s) {
    const keys = Array.from({ length: 129 }, (_, i) => "k" + i);
    const entries = Object.fromEntries(keys.map((k) => [k, 1]));
    return [await err(() => s.get(keys)), await err(() => s.put(entries)), await err(() => s.delete(keys))].join(" | ");
  }
  async bounds(s) {
    return [
      await err(() => s.put("x".repeat(2049), 1)),
      await err(() => s.put("big", "x".repeat(140000))),
      await err(() => s.get(7)),
      await err(() => s.put("f", () => 1)),
      await err(() => s.list({ limit: 0 })),
      await err(() => s.list({ start: "a", startAfter: "b" })),
    ].join(" | ");
  }
  async seed(s) { await s.put({ a: 1, b: 2, ba: 3, bb: 4, c: 5, d: 6 }); return "ok"; }
  async lists(s) {
    return [
      show(await s.list()),
      show(await s.list({ prefix: "b" })),
      show(await s.list({ start: "b", end: "c" })),
      show(await s.list({ startAfter: "b", limit: 2 })),
      show(await s.list({ reverse: true, limit: 3 })),
      show(await s.list({ end: "b", reverse: true })),
    ].join(" ");
  }
  async overlay(s) {
    // The event's own writes (not committed yet) show in list.
    await s.delete("a");
    await s.put("bz", 9);
    await s.delete("ba");
    return [show(await s.list({ limit: 3 })), show(await s.list({ prefix: "b", reverse: true }))].join(" ");
  }
  async wipe(s) {
    await s.deleteAll();
    await s.put("z", 1);
    return [show(await s.list()), show(await s.get("a"))].join(" ");
  }
  async txn(s) {
    await s.put("t", 1);
    const r = await s.transaction(async (txn) => {
      await txn.put("t", 2);
      await txn.put("u", 3);
      return [await txn.get("t"), show(await txn.list({ prefix: "t" }))].join(",");
    });
    const rolled = await s.transaction(async (txn) => {
      await txn.put("t", 20);
      await txn.delete("u");
      txn.rollback();
      return "rolled";
    });
    const thrown = await err(() => s.transaction(async (txn) => { await txn.put("t", 30); throw new Error("abort"); }));
    return [r, rolled, thrown, await s.get("t"), await s.get("u")].join(" ");
  }
  async kinds(s) {
    const vals = { s: "str", n: -1.5, t: true, nul: null, arr: [1, [2, { a: 3 }]], obj: { nested: { deep: "yes" } }, empty: "" };
    await s.put(vals);
    const got = await s.get(Object.keys(vals));
    return Object.keys(vals).every((k) => JSON.stringify(got.get(k)) === JSON.stringify(vals[k])) ? "same" : show(got);
  }
  async alarms(s) {
    const a = await s.getAlarm();
    await s.setAlarm(new Date(5000));
    const b = await s.getAlarm();
    await s.deleteAlarm();
    const c = await s.getAlarm();
    await s.setAlarm(7000);
    return [a, b, c, await s.getAlarm(), await err(() => s.setAlarm("soon"))].map(String).join(" ");
  }
  async batch(s) {
    s.put("p", 1);
    s.put("q", 2);
    s.delete("r");
    return "ok";
  }
  async commitFirst(s) {
    await s.put("before", 1);
    const r = await fetch("https://echo.test/x", { method: "POST", body: "hi" });
    await s.put("after", 2);
    return await r.text();
  }
  async putThenThrow(s) { s.put("kept", 1); await null; throw new Error("after the write"); }
  async bigBatch(s) {
    const v = "x".repeat(100000);
    for (let i = 0; i < 60; i++) s.put("big" + i, v);
    const one = {};
    for (let i = 0; i < 50; i++) one["one" + i] = v;
    return [await s.get("big0") === v, await (async () => { try { await s.put(one); return "no error"; } catch (e) { return e.name; } })()].join(" ");
  }
  async cached(s) { return show(await s.get(["a", "b", "nope"])); }
}
export default { fetch() { return new Response("main") } };
`

// TestObjectStorage is the conformance table of ctx.storage.
func TestObjectStorage(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, storageSrc)
		s := ref("Store", "s")
		run := func(check string) string {
			t.Helper()
			res := w.call(s, "run", check)
			if res.Outcome != OutcomeOK {
				t.Fatalf("%s: %s %s %+v", check, res.Outcome, res.Error, res.Exceptions)
			}
			v, _ := decodeValue(t, res.Value).(string)
			return v
		}
		for _, tc := range []struct{ check, want string }{
			{"single", `undefined {"x":[1,"two",null,true]} true false undefined`},
			{"many", "128 127 100 28"},
			{"tooMany", "RangeError: get: at most 128 keys per call, not 129 | RangeError: put: at most 128 keys per call, not 129 | RangeError: delete: at most 128 keys per call, not 129"},
			{"seed", "ok"},
			{"lists", `{a=1,b=2,ba=3,bb=4,c=5,d=6,k100=100` /* checked by prefix below */},
			{"kinds", "same"},
			{"alarms", "null 5000 null 7000 TypeError: setAlarm: scheduledTime must be a number (ms since the epoch) or a Date, within a Date's range"},
		} {
			got := run(tc.check)
			if tc.check == "lists" {
				continue // after "many" left keys; checked on a clean object below
			}
			if got != tc.want {
				t.Errorf("%s:\n got %s\nwant %s", tc.check, got, tc.want)
			}
		}
		got := run("bounds")
		for _, want := range []string{
			"RangeError: Keys cannot be larger than 2048 bytes",
			"RangeError: Values cannot be larger than 131072 bytes",
			"TypeError: Durable Object storage keys must be strings",
			"DataCloneError",
			"TypeError: list: limit must be a positive integer",
			"TypeError: list: start and startAfter cannot both be given",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("bounds: %s\nlacks %q", got, want)
			}
		}
		// list, on committed state and over the event's own writes.
		l := ref("Store", "lists")
		w.call(l, "run", "seed")
		w.rt.EvictObject(l) // lists come from the host
		res := w.call(l, "run", "lists")
		want := `{a=1,b=2,ba=3,bb=4,c=5,d=6} {b=2,ba=3,bb=4} {b=2,ba=3,bb=4} {ba=3,bb=4} {d=6,c=5,bb=4} {a=1}`
		if v := decodeValue(t, res.Value); v != want {
			t.Errorf("lists:\n got %v\nwant %s", v, want)
		}
		w.rt.EvictObject(l)
		res = w.call(l, "run", "overlay")
		want = `{b=2,bb=4,bz=9} {bz=9,bb=4,b=2}`
		if v := decodeValue(t, res.Value); v != want {
			t.Errorf("overlay:\n got %v\nwant %s", v, want)
		}
		res = w.call(l, "run", "wipe")
		if v := decodeValue(t, res.Value); v != `{z=1} undefined` || !res.Writes.DeleteAll {
			t.Errorf("wipe: %v %+v", v, res.Writes)
		}
		if len(w.data[l.Key()]) != 1 {
			t.Errorf("after deleteAll the store holds %d keys", len(w.data[l.Key()]))
		}
		res = w.call(l, "run", "txn")
		if v := decodeValue(t, res.Value); v != `2,{t=2} rolled Error: abort 2 3` {
			t.Errorf("txn: %v %+v", v, res.Exceptions)
		}
	})
}

// TestObjectWriteBatch: writes with no await between them arrive as one
// batch; reads the instance made are cached across events.
func TestObjectWriteBatch(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, storageSrc)
		s := ref("Store", "s")
		res := w.call(s, "run", "batch")
		b := res.Writes
		if res.Outcome != OutcomeOK || b == nil || len(b.Puts) != 2 || b.Puts[0].Key != "p" || b.Puts[1].Key != "q" || len(b.Deletes) != 1 || b.Deletes[0] != "r" {
			t.Fatalf("batch: %s %+v", res.Outcome, b)
		}
		res = w.call(s, "run", "putThenThrow")
		if res.Outcome != OutcomeException || res.Reset || res.Writes == nil || len(res.Writes.Puts) != 1 || res.Thrown.Message != "after the write" {
			t.Fatalf("putThenThrow: %s reset=%v %+v %+v", res.Outcome, res.Reset, res.Writes, res.Thrown)
		}
		w.takeLog()
		w.code.Limits = &Limits{CPUMs: 20_000} // 10 MB of JSON, under -race too
		res = w.call(s, "run", "bigBatch")
		if decodeValue(t, res.Value) != "true RangeError" || res.Writes == nil || len(res.Writes.Puts) >= 60 {
			t.Fatalf("bigBatch: %s %s %v %+v", res.Outcome, res.Error, decodeValue(t, res.Value), res.Exceptions)
		}
		// 6 MB of puts: committed in batches within MaxStorageBatchBytes
		// as the event goes, the rest in its Writes.
		committed := 0
		log := w.takeLog()
		for _, l := range log {
			var n int
			if _, err := fmt.Sscanf(l, "commit %d", &n); err != nil || n*100_000 > MaxStorageBatchBytes {
				t.Errorf("bigBatch host call %q, want a commit within the batch bound", l)
			}
			committed += n
		}
		if len(log) < 5 || committed+len(res.Writes.Puts) != 60 {
			t.Errorf("bigBatch host calls %q and %d puts left, want 60 puts in all", log, len(res.Writes.Puts))
		}
		w.call(s, "run", "seed")
		w.call(s, "run", "cached")
		if log := w.takeLog(); len(log) != 1 || log[0] != "get nope" {
			t.Errorf("the host was asked %q, want only the key never seen", log)
		}
	})
}

// TestObjectCommitBeforeFetch: the event's writes are committed before an
// outbound fetch leaves; later writes come back in Writes.
func TestObjectCommitBeforeFetch(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, storageSrc)
		s := ref("Store", "s")
		w.takeLog()
		res := w.call(s, "run", "commitFirst")
		if res.Outcome != OutcomeOK || decodeValue(t, res.Value) != "echo:POST:hi" {
			t.Fatalf("commitFirst: %s %+v", res.Outcome, res.Exceptions)
		}
		log := w.takeLog()
		if len(log) < 2 || log[len(log)-2] != "commit 1" || log[len(log)-1] != "fetch https://echo.test/x" {
			t.Errorf("host calls %q, want a commit of 1 write and then the fetch", log)
		}
		if res.Writes == nil || len(res.Writes.Puts) != 1 || res.Writes.Puts[0].Key != "after" {
			t.Errorf("writes %+v, want the one after the fetch", res.Writes)
		}
	})
}

const stubSrc = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => { this.n = (await ctx.storage.get("n")) ?? 0; });
  }
  async add(x, y) { this.n += x + y; await this.ctx.storage.put("n", this.n); return { n: this.n, by: this.ctx.id.name }; }
  fail() { throw new SyntaxError("bad input"); }
  async fetch(req) { return new Response("counter " + this.n); }
}
export class Store extends DurableObject {
  async viaStub(name) {
    const stub = this.env.COUNTER.getByName(name);
    await this.ctx.storage.put("mine", 1);
    const r = await stub.add(2, 3);
    let e = "";
    try { await stub.fail(); } catch (x) { e = x.name + ": " + x.message + " " + (x instanceof SyntaxError); }
    const f = await (await stub.fetch("http://do/")).text();
    return JSON.stringify(r) + " " + e + " " + f + " " + (stub.id.name === name) + " " + String(stub.id).length;
  }
}
export default {
  async fetch(req, env) {
    const id = env.COUNTER.idFromName("z");
    const same = id.equals(env.COUNTER.idFromString(id.toString().toUpperCase()));
    const u = env.COUNTER.newUniqueId();
    const r = await env.COUNTER.get(id).add(1, 1);
    return new Response(JSON.stringify(r) + " " + same + " " + /^[0-9a-f]{64}$/.test(String(u)));
  }
};
`

// TestObjectStubs: RPC and fetch through stubs, from an object and from a
// plain Worker; errors keep their name and message; the caller's writes
// are committed before the stub call goes.
func TestObjectStubs(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, stubSrc)
		s := ref("Store", "s")
		w.takeLog()
		res := w.call(s, "viaStub", "c1")
		want := `{"n":5,"by":"c1"} SyntaxError: bad input true counter 5 true 64`
		if res.Outcome != OutcomeOK || decodeValue(t, res.Value) != want {
			t.Fatalf("viaStub: %s %v %+v\nwant %s", res.Outcome, decodeValue(t, res.Value), res.Exceptions, want)
		}
		if log := w.takeLog(); len(log) < 2 || log[0] != "commit 1" || log[1] != "do.call c1.add" {
			t.Errorf("host calls %q, want the commit before the stub call", log)
		}
		// blockConcurrencyWhile in the constructor read the stored count.
		w.rt.EvictObject(ref("Counter", "c1"))
		res = w.call(ref("Counter", "c1"), "add", 1, 0)
		if m, _ := decodeValue(t, res.Value).(map[string]any); m["n"] != int64(6) {
			t.Errorf("after eviction: %v %+v", decodeValue(t, res.Value), res.Exceptions)
		}
		// From a plain Worker.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := w.rt.Run(ctx, &Invocation{Code: w.code, Bindings: testBindings, Host: w})
		if r.Outcome != OutcomeOK || string(r.Response.Body) != `{"n":2,"by":"z"} true true` {
			t.Errorf("from a Worker: %s %+v %+v", r.Outcome, r.Response, r.Exceptions)
		}
	})
}
