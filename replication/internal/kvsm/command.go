package kvsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

// Op is the kind of a command.
type Op uint8

// The commands. OpInvalid is the Op of a Result whose entry did not decode.
const (
	OpInvalid Op = 0
	OpPut     Op = 1
	OpDelete  Op = 2
	OpExpire  Op = 3
	// OpObject is an atomic batch of writes to one Durable Object's
	// storage (EncodeObjectBatch).
	OpObject Op = 4
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpExpire:
		return "expire"
	case OpObject:
		return "object"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// The first byte of a command is its version: 1 for a command without a
// request id, 2 for one with (EncodePutOnce, EncodeDeleteOnce). A replica
// rejects (deterministically, as ErrInvalid) versions it does not know, so a
// new version may be proposed only once every replica of the group
// understands it.
const (
	commandV1 = 1
	commandV2 = 2
)

// DedupWindow is how long, in seconds, a proposer should ask the replicas
// to remember a request id: the deadline of EncodePutOnce and
// EncodeDeleteOnce is the proposer's now plus DedupWindow, and the proposer
// must stop retrying well before it.
const DedupWindow = 60

// The range of a request id's deadline, in seconds from the clock of the
// leader that proposes the command (CheckDeadline).
const (
	// MinDeadlineLeft: an id must be remembered, by the leader's clock,
	// until its entry is surely applied.
	MinDeadlineLeft = 10
	// MaxDeadlineAhead: a proposer's clock ahead of the leader's keeps ids
	// (and their records) longer; this much is allowed.
	MaxDeadlineAhead = DedupWindow + 300
)

// ErrClockSkew: a command's request id has a deadline outside the range a
// leader accepts (CheckDeadline).
var ErrClockSkew = errors.New("kvsm: the clocks of the proposing node and the leader disagree")

// CheckDeadline is a leader's check before it proposes data: a put or delete
// with a request id must have at least MinDeadlineLeft seconds of its
// deadline left by now, and at most MaxDeadlineAhead. The deadline comes
// from the proposer's clock and replicas forget ids by the leader's, so a
// leader whose clock ran ahead could forget an id while the proposer still
// retried, and apply the write twice; with this check such a retry is
// refused instead (ErrClockSkew). Other commands, and data that does not
// decode (the state machine refuses it), pass.
func CheckDeadline(data []byte, now time.Time) error {
	c, err := DecodeCommand(data)
	if err != nil || !c.HasID() {
		return nil
	}
	if left := c.Deadline - now.Unix(); left < MinDeadlineLeft || left > MaxDeadlineAhead {
		return fmt.Errorf("%w: a request id's deadline is %d s from this node's clock, where %d to %d s are taken; check the nodes' clocks (NTP)",
			ErrClockSkew, left, MinDeadlineLeft, MaxDeadlineAhead)
	}
	return nil
}

// Command is a decoded command.
type Command struct {
	Op Op
	// Namespace and Key name the entry (put, delete).
	Namespace, Key string
	// Value and Metadata (put) alias the slice given to DecodeCommand.
	Value, Metadata []byte
	// Expiration is the absolute expiration of a put, unix seconds, 0 =
	// never.
	Expiration int64
	// Now is the clock of an expire command, unix seconds: keys whose
	// expiration is <= Now are removed.
	Now int64
	// Limit is how many expiration-index entries an expire command may
	// visit (1..MaxExpireLimit), and how many recorded request ids it may
	// forget.
	Limit int
	// ID is the request id of a put or delete encoded with EncodePutOnce or
	// EncodeDeleteOnce, all zero for a command without one (a version 2
	// command with a zero id is rejected).
	ID [16]byte
	// Deadline (with ID) is when the replicas may forget the id, unix
	// seconds of the proposer's clock: an expire command whose Now is after
	// it removes it.
	Deadline int64
	// Epoch (OpObject) is the term of the owner that proposed the batch:
	// the batch applies only in a log entry of that term.
	Epoch uint64
	// Object (OpObject) is the object key.
	Object string
	// Batch (OpObject) is the batch; its values alias the slice given to
	// DecodeCommand.
	Batch ObjectBatch
}

// HasID reports whether the command carries a request id.
func (c *Command) HasID() bool { return c.ID != [16]byte{} }

// Encoding, after the version byte and the Op byte (uvarints are
// encoding/binary's, varints its zig-zag signed form):
//
//	put:    uvarint len(ns) | ns | uvarint len(key) | key | varint expiration | uvarint len(meta) | meta | value (the rest)
//	delete: uvarint len(ns) | ns | uvarint len(key) | key
//	expire: varint now | uvarint limit
//	object: see EncodeObjectBatch
//
// Version 2 (put and delete only) puts a request id and its deadline
// between the Op byte and the version 1 body:
//
//	id (16 bytes) | varint deadline | body

// EncodePut encodes put(ns, key, value, expiration, metadata). expiration is
// absolute (unix seconds, 0 = never): compute it with ValidatePut, which
// also checks what the replicas will check again when applying. The result
// is a new slice.
func EncodePut(ns, key string, value, metadata []byte, expiration int64) []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(ns)+len(key)+len(metadata)+len(value))
	b = append(b, commandV1, byte(OpPut))
	b = appendString(b, ns)
	b = appendString(b, key)
	b = binary.AppendVarint(b, expiration)
	b = appendString(b, string(metadata))
	return append(b, value...)
}

// EncodeDelete encodes delete(ns, key). The result is a new slice.
func EncodeDelete(ns, key string) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(ns)+len(key))
	b = append(b, commandV1, byte(OpDelete))
	b = appendString(b, ns)
	return appendString(b, key)
}

// EncodePutOnce encodes put(ns, key, value, expiration, metadata) (see
// EncodePut) with request id id, applied at most once: a replica that
// applied a command with id id and deadline deadline skips another with
// both until an expire command forgets id, which happens after deadline
// (unix seconds of the proposer's clock, now + DedupWindow). Every attempt
// of one logical operation must carry the same id and deadline (the
// replicas look an id up by both); id must not be zero and deadline must be
// positive, or the replicas reject the command. The result is a new slice.
func EncodePutOnce(id [16]byte, deadline int64, ns, key string, value, metadata []byte, expiration int64) []byte {
	return appendOnce(EncodePut(ns, key, value, metadata, expiration), id, deadline)
}

// EncodeDeleteOnce encodes delete(ns, key) with request id id, applied at
// most once (see EncodePutOnce). The result is a new slice.
func EncodeDeleteOnce(id [16]byte, deadline int64, ns, key string) []byte {
	return appendOnce(EncodeDelete(ns, key), id, deadline)
}

// appendOnce turns a version 1 command into a version 2 one with id and
// deadline.
func appendOnce(v1 []byte, id [16]byte, deadline int64) []byte {
	b := make([]byte, 0, len(v1)+len(id)+binary.MaxVarintLen64)
	b = append(b, commandV2, v1[1])
	b = append(b, id[:]...)
	b = binary.AppendVarint(b, deadline)
	return append(b, v1[2:]...)
}

// EncodeExpire encodes expire(now): remove the keys whose expiration is at
// or before now (to the second), visiting at most limit (1..MaxExpireLimit)
// entries of the expiration index. The proposer (the leader) reads its own
// clock; replicas apply the command with its now, never with theirs. When
// the Result says More, propose again. The result is a new slice.
func EncodeExpire(now time.Time, limit int) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64)
	b = append(b, commandV1, byte(OpExpire))
	b = binary.AppendVarint(b, now.Unix())
	return binary.AppendUvarint(b, uint64(limit))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeCommand decodes a command. It never panics: malformed input is an
// error wrapping ErrInvalid (field "command"). Value and Metadata of the
// result alias data. It checks the encoding only; the rules of KV are
// checked when the command is applied.
func DecodeCommand(data []byte) (Command, error) {
	d := decoder{b: data}
	ver, op := d.byte(), Op(d.byte())
	if d.err != nil {
		return Command{}, d.err
	}
	if ver != commandV1 && ver != commandV2 {
		return Command{}, badCommand("unknown version %d", ver)
	}
	c := Command{Op: op}
	if ver == commandV2 {
		if op != OpPut && op != OpDelete {
			return Command{}, badCommand("version %d of %s", ver, op)
		}
		copy(c.ID[:], d.fixed(len(c.ID)))
		c.Deadline = d.varint()
		if d.err == nil && !c.HasID() {
			return Command{}, badCommand("zero request id")
		}
	}
	switch op {
	case OpPut:
		c.Namespace = string(d.bytes())
		c.Key = string(d.bytes())
		c.Expiration = d.varint()
		c.Metadata = d.bytes()
		c.Value = d.rest()
	case OpDelete:
		c.Namespace = string(d.bytes())
		c.Key = string(d.bytes())
	case OpExpire:
		c.Now = d.varint()
		n := d.uvarint()
		if n > math.MaxInt32 {
			n = math.MaxInt32 // out of range either way; validate says so
		}
		c.Limit = int(n)
	case OpObject:
		d.object(&c)
	default:
		return Command{}, badCommand("unknown op %d", op)
	}
	if d.err == nil && len(d.b) != 0 {
		return Command{}, badCommand("%d trailing bytes after %s", len(d.b), op)
	}
	if d.err != nil {
		return Command{}, d.err
	}
	return c, nil
}

// validate checks a decoded command against the rules that need no clock.
func (c *Command) validate() error {
	if c.HasID() && c.Deadline <= 0 {
		return badCommand("request id deadline %d is not positive", c.Deadline)
	}
	switch c.Op {
	case OpPut:
		return validatePutStatic(c.Namespace, c.Key, c.Value, c.Metadata, c.Expiration)
	case OpDelete:
		if err := ValidateNamespace(c.Namespace); err != nil {
			return err
		}
		return ValidateKey(c.Key)
	case OpExpire:
		if c.Limit < 1 || c.Limit > MaxExpireLimit {
			return invalid("limit", http.StatusBadRequest, "expire limit %d is not in 1..%d", c.Limit, MaxExpireLimit)
		}
		return nil
	case OpObject:
		return ValidateObjectBatch(c.Object, &c.Batch)
	}
	return badCommand("unknown op %d", c.Op)
}

func badCommand(format string, args ...any) error {
	return invalid("command", http.StatusBadRequest, format, args...)
}

// decoder reads the fields of a command; the first error sticks and later
// reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = badCommand("truncated or malformed %s", what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("header")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// fixed returns the next n bytes (aliasing the input).
func (d *decoder) fixed(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("request id")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	v := d.b
	d.b = nil
	return v
}
