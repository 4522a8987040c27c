package pyrun

import (
	"context"
	"testing"
)

// BenchmarkHello is one fresh call of print("hello") from the snapshot.
func BenchmarkHello(b *testing.B) {
	e := testEngine(b)
	in := script(`print("hello")`)
	if _, err := e.Run(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := e.Run(context.Background(), in)
		if err != nil || string(out.Stdout) != "hello\n" {
			b.Fatalf("%v %q", err, out.Stdout)
		}
	}
}
