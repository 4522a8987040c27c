package node

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/warrenmesh/warren/isolate"
)

// TestEncodeForward: the frame decodes to what json.Marshal's would, and
// carries the code object's bytes as they are.
func TestEncodeForward(t *testing.T) {
	pretty := json.RawMessage("{\n  \"mainModule\": \"m.js\",\n  \"modules\": {\"m.js\": {\"kind\": \"esm\", \"source\": \"a < b && c\"}}\n}")
	for _, fr := range []*RunRequest{
		{},
		{Code: pretty},
		{Code: pretty, Hops: []string{"a"}, WaitMs: 50, Client: "10.0.0.1:5"},
		{Code: pretty, Request: &isolate.Request{Method: "POST", URL: "http://x/<&>"}, Hops: []string{"a", "b"}},
		{CodeRef: "00ff", Hops: []string{"a"}},
		{Code: json.RawMessage(`{} trailing`), Hops: []string{"a"}}, // invalid: json.Marshal's error
	} {
		want, wantErr := json.Marshal(fr)
		got, err := encodeForward(fr)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%+v: error %v, json.Marshal's %v", fr, err, wantErr)
		}
		if err != nil {
			continue
		}
		var a, b RunRequest
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Code, fr.Code) {
			t.Errorf("code %s, want it verbatim: %s", a.Code, fr.Code)
		}
		a.Code, b.Code = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s decodes to %+v, json.Marshal's %s to %+v", got, a, want, b)
		}
	}
}
