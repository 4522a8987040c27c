package isolate

import (
	"context"
	"errors"
	"io"
	"testing"
)

func TestBodyPipe(t *testing.T) {
	ctx := context.Background()
	t.Run("order and end", func(t *testing.T) {
		p := NewBodyPipe()
		for _, c := range []string{"a", "b", "c"} {
			if err := p.Write(ctx, []byte(c)); err != nil {
				t.Fatal(err)
			}
		}
		p.Close(nil)
		p.Close(errors.New("too late")) // only the first Close counts
		var got string
		for {
			c, err := p.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got += string(c)
		}
		if got != "abc" {
			t.Errorf("read %q", got)
		}
	})
	t.Run("failed body", func(t *testing.T) {
		p := NewBodyPipe()
		_ = p.Write(ctx, []byte("x"))
		p.Close(ErrBodyIncomplete)
		if c, err := p.Next(ctx); err != nil || string(c) != "x" {
			t.Fatalf("first: %q %v", c, err)
		}
		if _, err := p.Next(ctx); !errors.Is(err, ErrBodyIncomplete) {
			t.Errorf("end: %v", err)
		}
	})
	t.Run("a full pipe holds the writer until the consumer goes", func(t *testing.T) {
		p := NewBodyPipe()
		for range pipeChunks {
			if err := p.Write(ctx, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error, 1)
		go func() { done <- p.Write(ctx, []byte("held")) }()
		// Had the write not been held, it would have returned nil.
		gone := errors.New("client gone")
		p.Abort(gone)
		if err := <-done; !errors.Is(err, gone) {
			t.Errorf("held write: %v", err)
		}
		if err := p.Write(ctx, []byte("after")); !errors.Is(err, gone) {
			t.Errorf("write after abort: %v", err)
		}
		select {
		case <-p.Gone():
		default:
			t.Error("Gone is open after Abort")
		}
	})
	t.Run("contexts", func(t *testing.T) {
		p := NewBodyPipe()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := p.Next(cctx); !errors.Is(err, context.Canceled) {
			t.Errorf("next: %v", err)
		}
		for range pipeChunks {
			_ = p.Write(ctx, nil)
		}
		if err := p.Write(cctx, []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("write: %v", err)
		}
	})
}
