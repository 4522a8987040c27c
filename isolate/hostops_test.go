package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

func TestHostOpsTable(t *testing.T) {
	seen := map[string]contract.HostOp{}
	for op := contract.HostOp(1); op < contract.NumHostOps; op++ {
		info := op.Info()
		if info.Name == "" {
			t.Errorf("op %d has no wire name", op)
		}
		if prev, ok := seen[info.Name]; ok {
			t.Errorf("ops %d and %d share the name %q", prev, op, info.Name)
		}
		seen[info.Name] = op
		if info.Side == 0 {
			t.Errorf("%s: no side answers it", op)
		}
		if info.Fallback == "" {
			t.Errorf("%s: no fallback error code", op)
		}
		if op.String() != info.Name {
			t.Errorf("%s: String() = %q", info.Name, op.String())
		}
		// Every op crosses a worker's channel and comes back itself.
		b, err := json.Marshal(&contract.HostCall{Op: op})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		c, err := contract.DecodeHostCall(b)
		if err != nil || c.Op != op {
			t.Errorf("%s: decoded as %v, %v", op, c, err)
		}
	}
	if contract.HostOp(0).Valid() || contract.NumHostOps.Valid() {
		t.Error("an op outside the table is valid")
	}
	if _, err := json.Marshal(&contract.HostCall{}); err == nil {
		t.Error("a call without an op encoded")
	}
}

func TestDecodeHostCallRefuses(t *testing.T) {
	for _, msg := range []string{
		`{"op":"nope"}`,
		`{"op":"KV"}`,
		`{"op":""}`,
		`{}`,
		`{"op":7}`,
		`{"op":"sget","id":3}`, // not async: cannot be started
		`{"op":"code","id":1}`,
	} {
		if c, err := contract.DecodeHostCall([]byte(msg)); err == nil {
			t.Errorf("%s decoded as %+v", msg, c)
		} else if !strings.HasPrefix(err.Error(), "bad host call") {
			t.Errorf("%s: error %q", msg, err)
		}
	}
	if _, err := contract.DecodeHostCall([]byte(`{"op":"nope"}`)); err == nil || !strings.Contains(err.Error(), `unknown host call op "nope"`) {
		t.Errorf("unknown op: error %v", err)
	}
	c, err := contract.DecodeHostCall([]byte(`{"op":"kv","id":3,"binding":"K","method":"get"}`))
	if err != nil || c.Op != contract.OpKV || c.ID != 3 {
		t.Errorf("a started KV call: %+v, %v", c, err)
	}
}

type codedErr string

func (e codedErr) Error() string  { return "coded" }
func (e codedErr) KVCode() string { return string(e) }

func TestHostErrorCode(t *testing.T) {
	for _, tc := range []struct {
		op   contract.HostOp
		err  error
		want contract.HostErrCode
	}{
		{contract.OpKV, nil, ""},
		{contract.OpKV, errors.New("x"), contract.CodeStorage},
		{contract.OpKV, fmt.Errorf("w: %w", &KVError{Code: KVCodeDenied, Err: errors.New("no")}), contract.CodeDenied},
		{contract.OpKV, context.DeadlineExceeded, contract.CodeUnavailable},
		{contract.OpStorageGet, errors.New("disk"), contract.CodeStorage},
		{contract.OpFetch, errors.New("dial"), contract.CodeUnavailable},
		{contract.OpFetch, codedErr("denied"), contract.CodeDenied},
		{contract.OpCode, errors.New("x"), contract.CodeInternal},
		{contract.OpDOCall, contract.HostErrorf(contract.CodeInvalid, "bad"), contract.CodeInvalid},
	} {
		if got := contract.ErrorCode(tc.op, tc.err); got != tc.want {
			t.Errorf("errorCode(%s, %v) = %q, want %q", tc.op, tc.err, got, tc.want)
		}
		if tc.op == contract.OpKV && KVErrorCode(tc.err) != string(tc.want) {
			t.Errorf("KVErrorCode(%v) = %q, want %q", tc.err, KVErrorCode(tc.err), tc.want)
		}
	}
	rep := contract.FailReply(contract.OpKV, &KVError{Code: KVCodeInvalid, Err: errors.New("key too long")})
	if rep.Error != "key too long" || rep.Code != contract.CodeInvalid {
		t.Errorf("failReply = %+v", rep)
	}
	var he *contract.HostError
	if err := rep.Err(); !errors.As(err, &he) || he.KVCode() != string(contract.CodeInvalid) || err.Error() != "key too long" {
		t.Errorf("reply's err() = %v", err)
	}
}

func TestDispatcherRefusesOutOfSide(t *testing.T) {
	d := &dispatcher{}
	for _, op := range []contract.HostOp{contract.OpWait, contract.OpRespond, contract.OpStorageGet, contract.OpStorageCommit, 0} {
		if rep, err := d.call(context.Background(), &contract.HostCall{Op: op}); err == nil {
			t.Errorf("%s answered without its side: %+v", op, rep)
		}
	}
	rep, err := d.call(context.Background(), &contract.HostCall{Op: contract.OpKV, Binding: "K", Method: "get"})
	if err != nil || rep.Code != contract.CodeInvalid {
		t.Errorf("KV without a binding: %+v, %v", rep, err)
	}
}
