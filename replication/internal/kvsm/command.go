package kvsm

import (
	"encoding/binary"
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
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpExpire:
		return "expire"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// commandV1 is the first byte of every command this package encodes. A
// replica rejects (deterministically, as ErrInvalid) versions it does not
// know, so a new version may be proposed only once every replica of the
// group understands it.
const commandV1 = 1

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
	// visit (1..MaxExpireLimit).
	Limit int
}

// Encoding, after the version byte and the Op byte (uvarints are
// encoding/binary's, varints its zig-zag signed form):
//
//	put:    uvarint len(ns) | ns | uvarint len(key) | key | varint expiration | uvarint len(meta) | meta | value (the rest)
//	delete: uvarint len(ns) | ns | uvarint len(key) | key
//	expire: varint now | uvarint limit

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
	if ver != commandV1 {
		return Command{}, badCommand("unknown version %d", ver)
	}
	c := Command{Op: op}
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
