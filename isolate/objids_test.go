package isolate

import (
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/jsengine"
)

// idsSrc's Store.crossIds tries ids of one namespace with another, and
// answers what each gave: "ok" or the error's name.
const idsSrc = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {}
export class Store extends DurableObject {
  crossIds(legacy) {
    const env = this.env, out = {};
    const t = (k, f) => { try { f(); out[k] = "ok"; } catch (e) { out[k] = e.name; } };
    t("getNamedOfOther", () => env.STORE.get(env.COUNTER.idFromName("x")));
    t("getUniqueOfOther", () => env.STORE.get(env.COUNTER.newUniqueId()));
    t("fromStringUniqueOfOther", () => env.STORE.idFromString(env.COUNTER.newUniqueId().toString()));
    t("fromStringUniqueOwn", () => env.COUNTER.get(env.COUNTER.idFromString(env.COUNTER.newUniqueId().toString())));
    t("getNamedOwn", () => env.COUNTER.get(env.COUNTER.idFromName("x")));
    t("getCtxIdOwn", () => env.STORE.get(this.ctx.id));
    t("getCtxIdOfOther", () => env.COUNTER.get(this.ctx.id));
    t("fromStringLegacy", () => env.STORE.get(env.STORE.idFromString(legacy)));
    t("getDuckUniqueOfOther", () => { const u = String(env.COUNTER.newUniqueId()); env.STORE.get({ toString() { return u; } }); });
    return JSON.stringify(out);
  }
}
export default { async fetch() { return new Response("-"); } };
`

// TestObjectIDNamespaces: an id made by one namespace is refused by
// another (TypeError), as on Cloudflare: get() with an id object of
// another namespace, and idFromString or get() of newUniqueId's ids of
// another namespace. Ids made before unique ids named their namespace
// (64 random hex digits) are taken as they were. Before, every one of
// them was taken, and named another object of the other class.
func TestObjectIDNamespaces(t *testing.T) {
	w := newObjWorld(t, InProcess, idsSrc)
	legacy := strings.Repeat("0123456789abcdef", 4)
	res := w.call(ref("Store", "s"), "crossIds", legacy)
	want := `{"getNamedOfOther":"TypeError","getUniqueOfOther":"TypeError","fromStringUniqueOfOther":"TypeError",` +
		`"fromStringUniqueOwn":"ok","getNamedOwn":"ok","getCtxIdOwn":"ok","getCtxIdOfOther":"TypeError",` +
		`"fromStringLegacy":"ok","getDuckUniqueOfOther":"TypeError"}`
	if res.Outcome != OutcomeOK || decodeValue(t, res.Value) != want {
		t.Fatalf("crossIds: %s %v %+v\nwant %s", res.Outcome, decodeValue(t, res.Value), res.Exceptions, want)
	}

	// A call that reaches the host with a unique id of another namespace
	// is refused there too; one of its own namespace, an id made from a
	// name, and an old unique id are not.
	u := jsengine.NewUniqueObjectID("w", "Counter")
	if err := validateRef(ObjectRef{Worker: "w", Class: "Store", ID: u}); err == nil || !strings.Contains(err.Error(), "another") {
		t.Errorf("a unique id of another namespace: %v", err)
	}
	for _, id := range []string{u, legacy, jsengine.ObjectID("w", "Store", "x")} {
		if err := validateRef(ObjectRef{Worker: "w", Class: "Counter", ID: id}); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
