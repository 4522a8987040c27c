package regexp2

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A catastrophic match stops soon after its interrupt flag is set, with
// ErrInterrupted; the regexp's next matches, interruptible or not, are
// unaffected.
func TestMatchInterrupted(t *testing.T) {
	re := MustCompile(`^(a+)+(?!x)$`, ECMAScript)
	input := []rune(strings.Repeat("a", 40) + "b") // 2^40 ways to fail
	var flag uint32
	go func() {
		time.Sleep(50 * time.Millisecond) // lets the match start: what it waits for cannot be observed
		atomic.StoreUint32(&flag, 1)
	}()
	t0 := time.Now()
	m, err := re.FindRunesMatchStartingAtInterruptible(input, 0, &flag)
	took := time.Since(t0)
	if !errors.Is(err, ErrInterrupted) || m != nil {
		t.Fatalf("interrupted catastrophic match: %v, %v", m, err)
	}
	if took > 5*time.Second {
		t.Errorf("the match stopped %v after it began, 50 ms after its interrupt was set", took)
	}

	// The runner goes back to the pool without the flag.
	easy := []rune("aaab")
	for i := 0; i < 3; i++ {
		if m, err := re.FindRunesMatchStartingAt(easy, 0); m != nil || err != nil {
			t.Fatalf("after an interrupted match, a plain one: %v, %v", m, err)
		}
	}
	var clear uint32
	ok := MustCompile(`a+b`, ECMAScript)
	if m, err := ok.FindRunesMatchStartingAtInterruptible(easy, 0, &clear); err != nil || m == nil || m.String() != "aaab" {
		t.Fatalf("an interruptible match never interrupted: %v, %v", m, err)
	}
	if m, err := ok.FindRunesMatchStartingAtInterruptible(easy, 0, nil); err != nil || m == nil || m.String() != "aaab" {
		t.Fatalf("an interruptible match with no flag: %v, %v", m, err)
	}
}

// A flag set before the match begins stops it at its first step; without
// a flag, MatchTimeout still applies to an interruptible match.
func TestMatchInterruptedAtOnce(t *testing.T) {
	re := MustCompile(`(a+)+(?!x)$`, ECMAScript)
	input := []rune(strings.Repeat("a", 40) + "b")
	set := uint32(1)
	if _, err := re.FindRunesMatchStartingAtInterruptible(input, 0, &set); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("a match whose flag was set before it began: %v", err)
	}
	re.MatchTimeout = 50 * time.Millisecond
	var clear uint32
	if _, err := re.FindRunesMatchStartingAtInterruptible(input, 0, &clear); err == nil || errors.Is(err, ErrInterrupted) {
		t.Fatalf("an interruptible match past its MatchTimeout: %v", err)
	}
}

// FindNextMatchInterruptible finds the next match as FindNextMatch does,
// and stops when its flag is set.
func TestNextMatchInterruptible(t *testing.T) {
	re := MustCompile(`a(b+)`, ECMAScript)
	input := []rune("ab abb abbb")
	var clear uint32
	m, err := re.FindRunesMatchStartingAtInterruptible(input, 0, &clear)
	var got []string
	for ; m != nil && err == nil; m, err = re.FindNextMatchInterruptible(m, &clear) {
		got = append(got, m.String())
	}
	if err != nil || strings.Join(got, ",") != "ab,abb,abbb" {
		t.Fatalf("matches %v, %v", got, err)
	}
	m, _ = re.FindRunesMatchStartingAtInterruptible(input, 0, &clear)
	set := uint32(1)
	if _, err := re.FindNextMatchInterruptible(m, &set); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("the next match with its flag set: %v", err)
	}
}
