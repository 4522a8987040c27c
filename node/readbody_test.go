package node

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReadBody: readBody returns what io.ReadAll would, for bodies of
// announced and unknown size across its block boundaries, read whole or a
// byte at a time, and refuses one past its cap having read at most one
// byte more.
func TestReadBody(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	sizes := []int{0, 1, firstBlock - 1, firstBlock, firstBlock + 1, firstBlock + bodyBlock, firstBlock + bodyBlock + 1, 3*bodyBlock + 7}
	for range 4 {
		sizes = append(sizes, rng.IntN(4*bodyBlock))
	}
	for _, n := range sizes {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, max := range []int64{int64(n), int64(n) + 1, int64(n) - 1} {
			if max < 0 {
				continue
			}
			readers := map[string]func() io.Reader{
				"whole":    func() io.Reader { return bytes.NewReader(data) },
				"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
				"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
				"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
			}
			if n > 100_000 {
				delete(readers, "one byte")
			}
			for name, mk := range readers {
				for _, size := range []int64{-1, int64(n)} {
					counted := &countingReader{r: mk()}
					got, err := readBody(counted, size, max)
					switch {
					case int64(n) > max:
						if !errors.Is(err, errBodyTooLarge) {
							t.Errorf("%d bytes, cap %d, size %d, %s: %v, want too large", n, max, size, name, err)
						}
						if counted.n > max+1 {
							t.Errorf("%d bytes, cap %d, size %d, %s: read %d bytes to refuse it", n, max, size, name, counted.n)
						}
					case err != nil || !bytes.Equal(got, data):
						t.Errorf("%d bytes, cap %d, size %d, %s: %d bytes, %v", n, max, size, name, len(got), err)
					}
				}
			}
		}
	}
}

// A reader's error, a body shorter or longer than announced: errors, and
// not the bytes.
func TestReadBodyErrors(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(make([]byte, 3*bodyBlock)), iotest.ErrReader(boom))
	if _, err := readBody(r, -1, 10*bodyBlock); !errors.Is(err, boom) {
		t.Errorf("a reader that fails after 3 MiB: %v", err)
	}
	if _, err := readBody(bytes.NewReader(make([]byte, 10)), 20, 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a body shorter than announced: %v", err)
	}
	if _, err := readBody(bytes.NewReader(make([]byte, 30)), 20, 100); err == nil {
		t.Error("a body longer than announced: no error")
	}
	if _, err := readBody(bytes.NewReader(nil), 200, 100); !errors.Is(err, errBodyTooLarge) {
		t.Errorf("an announced size past the cap: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// BenchmarkReadBody: a 32 MiB body of unknown length, as an egress
// response past its cap arrives, against io.ReadAll.
func BenchmarkReadBody(b *testing.B) {
	data := make([]byte, 32<<20)
	b.Run("readBody", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := readBody(io.MultiReader(bytes.NewReader(data)), -1, int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("io.ReadAll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.ReadAll(io.MultiReader(bytes.NewReader(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("readBody refused", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := readBody(io.MultiReader(bytes.NewReader(data)), -1, int64(len(data))-1); !errors.Is(err, errBodyTooLarge) {
				b.Fatal(err)
			}
		}
	})
}
