package node

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// DefaultBodyBudget bounds the bytes of request bodies all API calls of a
// node hold at once; MaxRunBody bounds one.
const DefaultBodyBudget = 1 << 30

// byteBudget is a pool of bytes that readers draw from as they read and
// give back when their request ends. It never blocks: a reader that finds
// it empty fails, and its request is answered 503.
type byteBudget struct {
	mu   sync.Mutex
	left int64
}

// take draws n bytes, or reports that they are not there.
func (b *byteBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

// available is what is left.
func (b *byteBudget) available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

func (b *byteBudget) give(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

// budgetChunk is how much a budgetReader draws at a time.
const budgetChunk = 256 << 10

// budgetReader reads r, drawing on the budget for every byte it returns.
// Close gives everything back.
type budgetReader struct {
	r     io.Reader
	b     *byteBudget
	held  int64 // drawn from the budget
	used  int64 // returned to the reader
	empty bool  // the budget ran out
}

// errBudget marks a read refused by the budget.
var errBudget = errors.New("node: body budget exhausted")

func (br *budgetReader) Read(p []byte) (int, error) {
	if br.used+int64(len(p)) > br.held {
		want := max(int64(budgetChunk), br.used+int64(len(p))-br.held)
		if !br.b.take(want) {
			br.empty = true
			return 0, errBudget
		}
		br.held += want
	}
	n, err := br.r.Read(p)
	br.used += int64(n)
	return n, err
}

// Close gives back what the reader drew.
func (br *budgetReader) Close() {
	br.b.give(br.held)
	br.held = 0
}

// budgetError is the API's answer to a request the budget refused.
func budgetError(budget int64) error {
	return &apiError{status: http.StatusServiceUnavailable, code: "busy",
		msg: fmt.Sprintf("this node already holds as many request bodies as it will (%d MiB in all); retry later or on another node", budget>>20)}
}
