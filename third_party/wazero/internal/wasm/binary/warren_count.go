package binary

import (
	"bytes"
	"fmt"
)

// warren: checkCount refuses a count of elements, each at least one byte,
// that the bytes left in r cannot hold. Decoding sized its slices (and a
// map) by the declared count before reading an element: a few bytes of
// module declaring 4 billion exports made it allocate gigabytes, or spend
// seconds of CPU sizing a map, before it failed.
func checkCount(r *bytes.Reader, n uint64, what string) error {
	if n > uint64(r.Len()) {
		return fmt.Errorf("%s: %d declared, more than the %d bytes left", what, n, r.Len())
	}
	return nil
}

// maxFunctionLocals bounds the locals of one function, as V8 does: they are
// run-length encoded, so a few bytes declare billions.
const maxFunctionLocals = 50000
