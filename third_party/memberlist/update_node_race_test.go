package memberlist

import (
	"sync"
	"testing"
	"time"
)

// Concurrent UpdateNode calls read the local node's address while each
// other's aliveNode writes it: under -race this reported a data race before
// UpdateNode read them under nodeLock.
func TestUpdateNodeConcurrent(t *testing.T) {
	c := testConfig(t)
	m, err := Create(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := m.UpdateNode(time.Second); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
