package lincheck

import (
	"cmp"
	"math"
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"
)

// never is the return time of a write whose outcome is unknown.
const never = math.MaxInt64

func put(client int, key, value string, call, ret int64) porcupine.Operation {
	o := output{}
	if ret == never {
		o.unknown = true
	}
	return porcupine.Operation{ClientId: client, Input: Op{Kind: Put, Key: key, Value: value}, Call: call, Return: ret, Output: o}
}

func del(client int, key string, call, ret int64) porcupine.Operation {
	o := output{}
	if ret == never {
		o.unknown = true
	}
	return porcupine.Operation{ClientId: client, Input: Op{Kind: Delete, Key: key}, Call: call, Return: ret, Output: o}
}

func get(client int, key, value string, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: Op{Kind: Get, Key: key}, Call: call, Return: ret,
		Output: output{Result: Result{Value: value, Found: true}}}
}

func getMissing(client int, key string, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: Op{Kind: Get, Key: key}, Call: call, Return: ret, Output: output{}}
}

func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history []porcupine.Operation
		ok      bool
	}{
		{"empty", nil, true},
		{"get of a missing key", []porcupine.Operation{getMissing(0, "k", 0, 1)}, true},
		{"get sees a completed put", []porcupine.Operation{
			put(0, "k", "a", 0, 1), get(1, "k", "a", 2, 3),
		}, true},
		{"stale read after a completed put", []porcupine.Operation{
			put(0, "k", "a", 0, 1), put(0, "k", "b", 2, 3), get(1, "k", "a", 4, 5),
		}, false},
		{"missing after a completed put", []porcupine.Operation{
			put(0, "k", "a", 0, 1), getMissing(1, "k", 2, 3),
		}, false},
		{"concurrent put and get sees the old value", []porcupine.Operation{
			put(0, "k", "a", 0, 1), put(0, "k", "b", 2, 10), get(1, "k", "a", 3, 5),
		}, true},
		{"concurrent put and get sees the new value", []porcupine.Operation{
			put(0, "k", "a", 0, 1), put(0, "k", "b", 2, 10), get(1, "k", "b", 3, 5),
		}, true},
		{"closed intervals: touching ops are concurrent", []porcupine.Operation{
			put(0, "k", "a", 0, 5), get(1, "k", "a", 5, 6),
		}, true},
		{"reads go back in time", []porcupine.Operation{
			put(0, "k", "a", 0, 1), put(0, "k", "b", 2, 10),
			get(1, "k", "b", 3, 4), get(2, "k", "a", 5, 6),
		}, false},
		{"read of a value never written", []porcupine.Operation{
			put(0, "k", "a", 0, 1), get(1, "k", "z", 2, 3),
		}, false},
		{"read of a value written to another key", []porcupine.Operation{
			put(0, "j", "a", 0, 1), get(1, "k", "a", 2, 3),
		}, false},
		{"read of a value written later", []porcupine.Operation{
			get(1, "k", "a", 0, 1), put(0, "k", "a", 2, 3),
		}, false},
		{"unknown put seen later", []porcupine.Operation{
			put(0, "k", "a", 0, 1), put(0, "k", "b", 2, never),
			get(1, "k", "a", 3, 4), get(1, "k", "b", 100, 101),
		}, true},
		{"unknown put never seen", []porcupine.Operation{
			put(0, "k", "a", 0, 1), put(0, "k", "b", 2, never),
			get(1, "k", "a", 3, 4), get(1, "k", "a", 100, 101),
		}, true},
		{"unknown put cannot take effect before its call", []porcupine.Operation{
			put(0, "k", "a", 0, 1), get(1, "k", "b", 2, 3), put(0, "k", "b", 4, never),
		}, false},
		{"unknown put takes effect once", []porcupine.Operation{
			put(0, "k", "a", 0, 1), put(0, "k", "b", 2, never),
			get(1, "k", "b", 3, 4), get(1, "k", "a", 5, 6),
		}, false},
		{"unknown put lands after a later put", []porcupine.Operation{
			put(0, "k", "b", 0, never), put(1, "k", "c", 5, 6),
			get(2, "k", "c", 7, 8), get(2, "k", "b", 9, 10),
		}, true},
		{"delete then get not found", []porcupine.Operation{
			put(0, "k", "a", 0, 1), del(0, "k", 2, 3), getMissing(1, "k", 4, 5),
		}, true},
		{"delete then get the deleted value", []porcupine.Operation{
			put(0, "k", "a", 0, 1), del(0, "k", 2, 3), get(1, "k", "a", 4, 5),
		}, false},
		{"delete of a missing key", []porcupine.Operation{
			del(0, "k", 0, 1), getMissing(1, "k", 2, 3),
		}, true},
		{"unknown delete seen", []porcupine.Operation{
			put(0, "k", "a", 0, 1), del(0, "k", 2, never),
			get(1, "k", "a", 3, 4), getMissing(1, "k", 5, 6),
		}, true},
		{"put after delete", []porcupine.Operation{
			put(0, "k", "a", 0, 1), del(0, "k", 2, 3), put(0, "k", "b", 4, 5), get(1, "k", "b", 6, 7),
		}, true},
		{"keys are independent", []porcupine.Operation{
			put(0, "j", "a", 0, 1), put(1, "k", "b", 0, 1),
			get(2, "j", "a", 2, 3), get(2, "k", "b", 2, 3), getMissing(2, "l", 2, 3),
		}, true},
		{"one bad key among good ones", []porcupine.Operation{
			put(0, "j", "a", 0, 1), put(1, "k", "b", 0, 1),
			get(2, "j", "a", 2, 3), getMissing(2, "k", 2, 3),
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(Model, tc.history); got != tc.ok {
				t.Errorf("CheckOperations = %v, want %v", got, tc.ok)
			}
			if got := porcupine.CheckEvents(Model, events(tc.history)); got != tc.ok {
				t.Errorf("CheckEvents = %v, want %v", got, tc.ok)
			}
		})
	}
}

// events turns a history of operations into one of events, ordered as
// porcupine orders them (calls before returns at the same time).
func events(history []porcupine.Operation) []porcupine.Event {
	type stamped struct {
		t  int64
		ev porcupine.Event
	}
	var all []stamped
	for id, op := range history {
		all = append(all,
			stamped{op.Call, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.CallEvent, Value: op.Input, Id: id}},
			stamped{op.Return, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.ReturnEvent, Value: op.Output, Id: id}})
	}
	slices.SortStableFunc(all, func(a, b stamped) int {
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		// calls before returns
		if a.ev.Kind == b.ev.Kind {
			return 0
		}
		if a.ev.Kind == porcupine.CallEvent {
			return -1
		}
		return 1
	})
	evs := make([]porcupine.Event, len(all))
	for i, s := range all {
		evs[i] = s.ev
	}
	return evs
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		op   porcupine.Operation
		want string
	}{
		{put(0, "k", "a", 0, 1), `put("k", "a")`},
		{put(0, "k", "a", 0, never), `put("k", "a") -> ?`},
		{del(0, "k", 0, 1), `delete("k")`},
		{get(0, "k", "a", 0, 1), `get("k") -> "a"`},
		{getMissing(0, "k", 0, 1), `get("k") -> not found`},
	} {
		if got := Model.DescribeOperation(tc.op.Input, tc.op.Output); got != tc.want {
			t.Errorf("DescribeOperation = %s, want %s", got, tc.want)
		}
	}
}
