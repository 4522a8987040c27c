package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// TestActorsPerWorker: one Worker's objects (newUniqueId in a loop, up to
// 50 new objects a call) take at most maxActorsPerWorker of the node's
// maxActors actors, so that other Workers' objects still open. Before,
// one Worker could hold every actor of the node for as long as it kept
// calling (an actor is kept objectIdle after its last call), and every
// other Worker's new objects there were refused.
func TestActorsPerWorker(t *testing.T) {
	o := newObjects(nil)
	ref := func(worker string, i int) isolate.ObjectRef {
		return isolate.ObjectRef{Worker: worker, Class: "C", ID: fmt.Sprintf("%064x", i)}
	}
	made := 0
	for i := range maxActors {
		if _, err := o.actor(ref("flood", i)); err == nil {
			made++
		}
	}
	if made > maxActorsPerWorker {
		t.Fatalf("one Worker holds %d actors, want at most %d", made, maxActorsPerWorker)
	}
	if _, err := o.actor(ref("flood", 0)); err != nil {
		t.Fatalf("an actor the Worker holds: %v", err)
	}
	if _, err := o.actor(ref("other", 0)); err != nil {
		t.Fatalf("another Worker's object: %v", err)
	}
	// The idle sweep gives the Worker's share back.
	o.sweep(time.Now().Add(2 * objectIdle))
	if n := o.active(); n != 0 {
		t.Fatalf("%d actors after the sweep", n)
	}
	if _, err := o.actor(ref("flood", maxActors)); err != nil {
		t.Fatalf("a new object after the sweep: %v", err)
	}
}

// hostileStorageWorker's Probe object writes a key, then tries one
// hostile storage call (catching what it throws), then writes another:
// /w/NAME/x?op=OP answers what the call threw and what the object holds.
const hostileStorageWorker = `import { DurableObject } from "cloudflare:workers";
const long = "a".repeat(3000);
export class Probe extends DurableObject {
  async run(op) {
    const s = this.ctx.storage;
    const tries = {
      listStart: () => s.list({ start: long }),
      listStartAfter: () => s.list({ startAfter: long }),
      listEnd: () => s.list({ end: long }),
      listPrefix: () => s.list({ prefix: long, reverse: true }),
      alarmPatched: async () => {
        const [isFinite, floor, abs] = [Number.isFinite, Math.floor, Math.abs];
        Number.isFinite = () => true;
        Math.floor = (x) => x;
        Math.abs = () => 0;
        try { await s.setAlarm(1e300); } finally { [Number.isFinite, Math.floor, Math.abs] = [isFinite, floor, abs]; }
      },
      getPatched: async () => {
        const isArray = Array.isArray;
        const keys = Array.from({ length: 200 }, (_, i) => "k" + i);
        let reads = 0;
        const sneaky = new Proxy(keys, { get(t, p) { return p === "length" && reads++ === 0 ? 1 : t[p]; } });
        Array.isArray = () => true;
        try { await s.get(sneaky); } finally { Array.isArray = isArray; }
      },
      txnDeletes: () => s.transaction(async (t) => {
        for (let i = 0; i < 600; i++) t.delete(long.slice(0, 2000) + i);
      }),
      txnPutDelete: () => s.transaction(async (t) => {
        const v = "v".repeat(1000);
        for (let i = 0; i < 600; i++) { const k = long.slice(0, 2000) + i; t.delete(k); t.put(k, v); }
      }),
      alarmHuge: () => s.setAlarm(1e300),
      alarm2p63: () => s.setAlarm(2 ** 63),
      alarmPastDate: () => s.setAlarm(8.64e15 + 1),
    };
    s.put("before-" + op, 1);
    let threw = "nothing";
    try { await tries[op](); } catch (e) { threw = e.name; }
    await s.put("after-" + op, 2);
    return threw;
  }
  async state() {
    return JSON.stringify({ keys: [...(await this.ctx.storage.list()).keys()], alarm: await this.ctx.storage.getAlarm() });
  }
}
export default {
  async fetch(req, env) {
    const op = new URL(req.url).searchParams.get("op");
    const stub = env.PROBE.getByName("p");
    try {
      return new Response(op === "state" ? await stub.state() : await stub.run(op));
    } catch (e) {
      return new Response(e.name + ": " + e.message, { status: 500 });
    }
  }
};`

// TestObjectStorageHostileArguments: a storage list bounded by a key past
// 2 KiB, and an alarm past a Date's range, throw an exception the object
// can catch, and the object's writes around them stand. Before, the store
// refused the list's bound, which failed the whole event with a storage
// error and dropped the instance (the write before it was lost, the one
// after never made); setAlarm(1e300) or setAlarm(2 ** 63) resolved, its
// time wrapped to a negative int64, and the store's refusal of that batch
// reset the object, losing the event's writes; and a transaction's deletes
// were not counted against a batch's 1 MiB, so 600 deletes of 2 KB keys
// made a batch the store refused, with the same loss. The engine's own
// checks hold when the guest replaced the intrinsics the prelude checks
// with (alarmPatched, getPatched).
func TestObjectStorageHostileArguments(t *testing.T) {
	_, nodes := objectCluster(t, "a")
	n := nodes[0]
	deployClass(t, n, "probe", hostileStorageWorker, "PROBE", "Probe")
	ops := []struct{ op, threw string }{
		{"listStart", "RangeError"}, {"listStartAfter", "RangeError"}, {"listEnd", "RangeError"}, {"listPrefix", "RangeError"},
		{"txnDeletes", "RangeError"}, {"txnPutDelete", "RangeError"}, {"alarmPatched", "TypeError"}, {"getPatched", "RangeError"},
		{"alarmHuge", "TypeError"}, {"alarm2p63", "TypeError"}, {"alarmPastDate", "TypeError"},
	}
	var want []string
	for _, c := range ops {
		status, _, body := serve(t, n, "GET", "/w/probe/x?op="+c.op, "", nil)
		if status != 200 || body != c.threw {
			t.Errorf("%s: %d %q, want 200 %q", c.op, status, body, c.threw)
		}
		want = append(want, "after-"+c.op, "before-"+c.op)
	}
	slices.Sort(want)
	status, _, body := serve(t, n, "GET", "/w/probe/x?op=state", "", nil)
	var st struct {
		Keys  []string
		Alarm *int64
	}
	if status != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("state: %d %s", status, body)
	}
	if !slices.Equal(st.Keys, want) || st.Alarm != nil {
		t.Errorf("the object holds %v with alarm %s, want %v and none", st.Keys, body, want)
	}
}

// namedWorker's Named object answers its ctx.id.name; /w/NAME/x?op=forged
// calls the object named "alice" through an id it made itself, carrying
// the name "mallory", and /w/NAME/x?op=real through getByName("alice").
const namedWorker = `import { DurableObject } from "cloudflare:workers";
export class Named extends DurableObject {
  who() { return String(this.ctx.id.name); }
}
export default {
  async fetch(req, env) {
    const op = new URL(req.url).searchParams.get("op");
    try {
      if (op === "forged") {
        const real = env.NAMED.idFromName("alice");
        const fake = { toString() { return real.toString(); }, name: "mallory" };
        return new Response(await env.NAMED.get(fake).who());
      }
      return new Response(await env.NAMED.getByName("alice").who());
    } catch (e) {
      return new Response(e.name + ": " + e.message, { status: 500 });
    }
  }
};`

// TestObjectNameForged: an id's name must be the one its id was made
// from. Before, a Worker could hand get() an id of its own making, with
// the id of the object named "alice" and the name "mallory", and the
// object then saw ctx.id.name === "mallory", on that call and on every
// later one, however made, for as long as it stayed live.
func TestObjectNameForged(t *testing.T) {
	_, nodes := objectCluster(t, "a")
	n := nodes[0]
	deployClass(t, n, "named", namedWorker, "NAMED", "Named")
	if status, _, body := serve(t, n, "GET", "/w/named/x?op=forged", "", nil); status != 500 || !strings.Contains(body, "name") {
		t.Errorf("a forged name: %d %q, want 500 and an error about the name", status, body)
	}
	if status, _, body := serve(t, n, "GET", "/w/named/x?op=real", "", nil); status != 200 || body != "alice" {
		t.Errorf("the object's own name: %d %q, want 200 \"alice\"", status, body)
	}
	// GET /v1/objects refuses an id and a name that do not go together.
	q := "?id=" + ObjectIDFromName("named", "Named", "alice") + "&name=mallory"
	if status, _, body := call(t, n, "GET", "/v1/objects/named/Named"+q, nil, nil); status != 400 {
		t.Errorf("GET /v1/objects with another object's name: %d %s", status, body)
	}
}
