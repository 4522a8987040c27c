package experimental

import (
	"context"

	"github.com/tetratelabs/wazero/internal/expctxkeys"
)

// TableLimiter bounds the entries of the tables a module defines (warren).
// A table entry is a machine word the runtime allocates: a table's
// declared minimum (up to 2^27 entries, a GiB) and table.grow (up to 2^32
// entries) cost memory that no MemoryAllocator sees, so a few bytes of
// module could allocate gigabytes.
type TableLimiter interface {
	// GrowTable is asked before a table of the module gets n more entries,
	// when the module is instantiated (its declared minimum) and at every
	// table.grow. Returning false refuses them: instantiation fails, and
	// table.grow returns -1.
	GrowTable(n uint64) bool
}

// WithTableLimiter registers the given TableLimiter into the given
// context.Context. The context must be passed when instantiating a module:
// its tables keep the limiter for their lifetime.
func WithTableLimiter(ctx context.Context, l TableLimiter) context.Context {
	if l != nil {
		return context.WithValue(ctx, expctxkeys.TableLimiterKey{}, l)
	}
	return ctx
}
