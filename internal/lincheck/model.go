package lincheck

import (
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/anishathalye/porcupine"
)

// Kind is the kind of an operation.
type Kind uint8

// The kinds of operation.
const (
	// Put stores Value under Key.
	Put Kind = iota + 1
	// Get reads Key: its value and whether it exists.
	Get
	// Delete removes Key; a missing key is not an error.
	Delete
)

func (k Kind) String() string {
	switch k {
	case Put:
		return "put"
	case Get:
		return "get"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Op is one operation on the store: the input of the model.
type Op struct {
	Kind Kind
	Key  string
	// Value is the value a Put stores; empty otherwise.
	Value string
}

func (o Op) String() string {
	if o.Kind == Put {
		return fmt.Sprintf("put(%q, %q)", o.Key, o.Value)
	}
	return fmt.Sprintf("%s(%q)", o.Kind, o.Key)
}

// Result is what a completed Get answered: the key's value and whether it
// exists. Puts and deletes answer nothing, so their Result is zero.
type Result struct {
	Value string
	Found bool
}

// Outcome is how an operation ended.
type Outcome uint8

// The outcomes of an operation.
const (
	// OK: the operation completed; a Get's Result is the store's answer.
	OK Outcome = iota
	// Failed: the operation definitely had no effect on the store.
	Failed
	// Unknown: the operation may or may not have taken effect, now or
	// later (a timeout, a lost connection, an "outcome unknown" error).
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// output is the output of an operation in a history: a Get's Result, or
// for a write whose outcome is unknown, unknown set.
type output struct {
	Result
	unknown bool
}

// state is the model's state for one key.
type state struct {
	value string
	found bool
}

// Model is the porcupine model of the store: a register per key, with
// inputs Op and outputs as the Recorder records them. Its histories are
// partitioned by key. Use it with porcupine directly only on histories a
// Recorder made (Recorder.Operations).
var Model = porcupine.Model{
	Partition:      partition,
	PartitionEvent: partitionEvents,
	Init:           func() any { return state{} },
	Step:           step,
	Hash: func(s any) uint64 {
		st := s.(state)
		h := fnv.New64a()
		if st.found {
			h.Write([]byte{1})
		}
		h.Write([]byte(st.value))
		return h.Sum64()
	},
	DescribeOperation: describeOperation,
	DescribeState: func(s any) string {
		st := s.(state)
		if !st.found {
			return "(absent)"
		}
		return fmt.Sprintf("%q", st.value)
	},
}

func step(s, in, out any) (bool, any) {
	st, op, o := s.(state), in.(Op), out.(output)
	switch op.Kind {
	case Put:
		return true, state{value: op.Value, found: true}
	case Delete:
		return true, state{}
	case Get:
		if o.unknown {
			// A Recorder drops such reads; were one kept, it read nothing.
			return true, st
		}
		if o.Found != st.found {
			return false, st
		}
		return !o.Found || o.Value == st.value, st
	}
	return false, st
}

func describeOperation(in, out any) string {
	op, o := in.(Op), out.(output)
	switch {
	case o.unknown:
		return op.String() + " -> ?"
	case op.Kind != Get:
		return op.String()
	case !o.Found:
		return op.String() + " -> not found"
	}
	return fmt.Sprintf("%s -> %q", op, o.Value)
}

// partition splits a history by key, in key order.
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := make(map[string][]porcupine.Operation)
	for _, op := range history {
		k := op.Input.(Op).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := sortedKeys(byKey)
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, byKey[k])
	}
	return parts
}

// partitionEvents splits a history of events by key, in key order.
func partitionEvents(history []porcupine.Event) [][]porcupine.Event {
	byKey := make(map[string][]porcupine.Event)
	keyOf := make(map[int]string) // call id -> key
	for _, ev := range history {
		var k string
		if ev.Kind == porcupine.CallEvent {
			k = ev.Value.(Op).Key
			keyOf[ev.Id] = k
		} else {
			k = keyOf[ev.Id]
		}
		byKey[k] = append(byKey[k], ev)
	}
	keys := sortedKeys(byKey)
	parts := make([][]porcupine.Event, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, byKey[k])
	}
	return parts
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
