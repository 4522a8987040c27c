package node

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkMCPServer is the cost of the MCP server each POST /mcp builds
// (its five tools, their schemas from the cache).
func BenchmarkMCPServer(b *testing.B) {
	n := &Node{}
	r := httptest.NewRequest("POST", "/mcp", nil)
	b.ReportAllocs()
	for b.Loop() {
		n.newMCPServer(r)
	}
}
