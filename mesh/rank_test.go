package mesh

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// rankPeer is a shorthand for an alive peer with a known RTT.
func rankPeer(name string, free int, load float64, rtt time.Duration) Candidate {
	return Candidate{Name: name, Alive: true, Free: free, Load: load, RTT: rtt, HasRTT: true}
}

func rankSelf(name string, free int) Candidate {
	return Candidate{Name: name, Local: true, Alive: true, Free: free}
}

func rankUnknown(name string, free int, load float64) Candidate {
	return Candidate{Name: name, Alive: true, Free: free, Load: load}
}

func TestRank(t *testing.T) {
	dead := rankPeer("dead", 4, 0, 1*time.Millisecond)
	dead.Alive = false
	deadSelf := rankSelf("self", 4)
	deadSelf.Alive = false

	tests := []struct {
		name  string
		cands []Candidate
		want  []string
	}{
		{"empty input", nil, []string{}},
		{
			"local free runs locally first",
			[]Candidate{rankPeer("n2", 8, 0, 1*time.Millisecond), rankSelf("n1", 1)},
			[]string{"n1", "n2"},
		},
		{
			"local free beats an idle nearer peer",
			[]Candidate{rankPeer("n2", 8, 0, 0), rankSelf("n1", 1)},
			[]string{"n1", "n2"},
		},
		{
			"local full goes to the nearest peer",
			[]Candidate{
				rankSelf("n1", 0),
				rankPeer("n4", 4, 0, 80*time.Millisecond),
				rankPeer("n2", 4, 0.9, 10*time.Millisecond),
				rankPeer("n3", 4, 0, 40*time.Millisecond),
			},
			[]string{"n2", "n3", "n4"},
		},
		{
			"nearer wins over less loaded outside the tie window",
			[]Candidate{rankPeer("near", 1, 0.99, 10*time.Millisecond), rankPeer("far", 9, 0, 11100*time.Microsecond)},
			[]string{"near", "far"},
		},
		{
			"equal RTT: lower load first",
			[]Candidate{rankPeer("a", 4, 0.7, 10*time.Millisecond), rankPeer("b", 4, 0.2, 10*time.Millisecond)},
			[]string{"b", "a"},
		},
		{
			"within 10% of RTT: lower load first",
			[]Candidate{rankPeer("a", 4, 0.7, 10*time.Millisecond), rankPeer("b", 4, 0.2, 11*time.Millisecond)},
			[]string{"b", "a"},
		},
		{
			"within 200µs at small RTT: lower load first",
			[]Candidate{rankPeer("a", 4, 0.7, 100*time.Microsecond), rankPeer("b", 4, 0.2, 300*time.Microsecond)},
			[]string{"b", "a"},
		},
		{
			"just outside 200µs at small RTT: nearer first",
			[]Candidate{rankPeer("a", 4, 0.7, 100*time.Microsecond), rankPeer("b", 4, 0.2, 301*time.Microsecond)},
			[]string{"a", "b"},
		},
		{
			"window is anchored at the group's nearest peer, not chained",
			// a..b within 200µs and b..c within 200µs, but c is 300µs from a.
			[]Candidate{
				rankPeer("a", 1, 0.9, 100*time.Microsecond),
				rankPeer("b", 1, 0.5, 250*time.Microsecond),
				rankPeer("c", 1, 0.1, 400*time.Microsecond),
			},
			[]string{"b", "a", "c"},
		},
		{
			"equal RTT and load: by name",
			[]Candidate{rankPeer("n3", 1, 0.5, 5*time.Millisecond), rankPeer("n1", 1, 0.5, 5*time.Millisecond), rankPeer("n2", 1, 0.5, 5*time.Millisecond)},
			[]string{"n1", "n2", "n3"},
		},
		{
			"same load in a group: nearer first",
			[]Candidate{rankPeer("z", 1, 0.5, 5*time.Millisecond), rankPeer("y", 1, 0.5, 5100*time.Microsecond)},
			[]string{"z", "y"},
		},
		{
			"unknown RTT after every known one",
			[]Candidate{
				rankUnknown("u1", 8, 0),
				rankPeer("far", 1, 0.99, 900*time.Millisecond),
				rankUnknown("u0", 8, 0.5),
				rankPeer("near", 1, 0.5, 1*time.Millisecond),
			},
			[]string{"near", "far", "u1", "u0"},
		},
		{
			"unknown RTT: by load then name",
			[]Candidate{rankUnknown("c", 1, 0.3), rankUnknown("b", 1, 0.1), rankUnknown("a", 1, 0.3)},
			[]string{"b", "a", "c"},
		},
		{
			"unknown RTT ignores a stale RTT value",
			[]Candidate{{Name: "u", Alive: true, Free: 1, RTT: 1 * time.Microsecond}, rankPeer("k", 1, 0, time.Second)},
			[]string{"k", "u"},
		},
		{
			"dead and suspect peers excluded",
			[]Candidate{dead, rankPeer("n2", 1, 0, 20*time.Millisecond), {Name: "suspect", Free: 3, RTT: time.Millisecond, HasRTT: true}},
			[]string{"n2"},
		},
		{
			"full peers excluded",
			[]Candidate{rankPeer("full", 0, 0, 1*time.Millisecond), rankPeer("n2", 1, 0, 20*time.Millisecond), rankUnknown("fullu", 0, 0)},
			[]string{"n2"},
		},
		{
			"negative free counts as full",
			[]Candidate{rankPeer("neg", -1, 0, 1*time.Millisecond), rankSelf("self", -2)},
			[]string{},
		},
		{
			"local not alive (draining) excluded",
			[]Candidate{deadSelf, rankPeer("n2", 1, 0, 20*time.Millisecond)},
			[]string{"n2"},
		},
		{
			"all full: no room anywhere",
			[]Candidate{rankSelf("n1", 0), rankPeer("n2", 0, 0, 1*time.Millisecond), rankUnknown("n3", 0, 0), dead},
			[]string{},
		},
		{
			"NaN load sorts as most loaded",
			[]Candidate{rankPeer("nan", 1, math.NaN(), 5*time.Millisecond), rankPeer("busy", 1, 3, 5*time.Millisecond)},
			[]string{"busy", "nan"},
		},
		{
			"negative RTT counts as zero",
			[]Candidate{rankPeer("neg", 1, 0.9, -5*time.Millisecond), rankPeer("zero", 1, 0.1, 0)},
			[]string{"zero", "neg"},
		},
		{
			"repeated name appears once at its best place",
			[]Candidate{rankPeer("x", 1, 0, 50*time.Millisecond), rankPeer("y", 1, 0, 20*time.Millisecond), rankPeer("x", 1, 0, 10*time.Millisecond)},
			[]string{"x", "y"},
		},
		{
			"latency matrix of the mesh issue: n1 full spills per the matrix",
			[]Candidate{
				rankSelf("n1", 0),
				rankPeer("n2", 2, 0.5, 10*time.Millisecond),
				rankPeer("n3", 2, 0.1, 40*time.Millisecond),
				rankPeer("n4", 2, 0.0, 80*time.Millisecond),
				rankPeer("n5", 0, 0.0, 2*time.Millisecond),
				rankUnknown("n6", 2, 0),
			},
			[]string{"n2", "n3", "n4", "n6"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.cands)
			got := Rank(tt.cands)
			if got == nil {
				t.Fatalf("Rank returned nil; want a non-nil empty slice for no room")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Rank = %q, want %q", got, tt.want)
			}
			if !slices.EqualFunc(in, tt.cands, rankSameCandidate) {
				t.Errorf("Rank modified its input: %+v, was %+v", tt.cands, in)
			}
		})
	}
}

func rankSameCandidate(a, b Candidate) bool {
	return a.Name == b.Name && a.Local == b.Local && a.Alive == b.Alive && a.Free == b.Free &&
		a.RTT == b.RTT && a.HasRTT == b.HasRTT &&
		(a.Load == b.Load || math.IsNaN(a.Load) && math.IsNaN(b.Load))
}

// TestRankShuffleDeterministic ranks random candidate sets in many input
// orders and demands one answer per set, plus the ordering invariants.
func TestRankShuffleDeterministic(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	for round := range 200 {
		cands := rankRandomCandidates(rng, 1+rng.IntN(30))
		want := Rank(cands)
		rankCheckInvariants(t, cands, want)
		for range 10 {
			shuffled := slices.Clone(cands)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got := Rank(shuffled); !slices.Equal(got, want) {
				t.Fatalf("seed %d round %d: order depends on input order:\n got %q\nwant %q\ninput %+v",
					seed, round, got, want, cands)
			}
		}
	}
}

func rankRandomCandidates(rng *rand.Rand, n int) []Candidate {
	cands := make([]Candidate, n)
	for i := range cands {
		c := Candidate{
			Name:   fmt.Sprintf("n%02d", i),
			Alive:  rng.IntN(5) != 0,
			Free:   rng.IntN(4) - 1,
			Load:   float64(rng.IntN(5)) / 4, // few values: many load ties
			RTT:    time.Duration(rng.IntN(40)) * 100 * time.Microsecond,
			HasRTT: rng.IntN(4) != 0,
		}
		if rng.IntN(10) == 0 {
			c.RTT = c.RTT.Truncate(time.Millisecond) // exact RTT ties
		}
		cands[i] = c
	}
	cands[rng.IntN(n)].Local = true
	return cands
}

func rankCheckInvariants(t *testing.T, cands []Candidate, got []string) {
	t.Helper()
	byName := make(map[string]Candidate, len(cands))
	eligible := 0
	for _, c := range cands {
		byName[c.Name] = c
		if c.Alive && c.Free > 0 {
			eligible++
		}
	}
	if len(got) != eligible {
		t.Fatalf("Rank returned %d nodes, want the %d eligible: %q", len(got), eligible, got)
	}
	phase := func(c Candidate) int {
		switch {
		case c.Local:
			return 0
		case c.HasRTT:
			return 1
		}
		return 2
	}
	for i, name := range got {
		c := byName[name]
		if !c.Alive || c.Free <= 0 {
			t.Fatalf("Rank returned ineligible %+v", c)
		}
		if i == 0 {
			continue
		}
		prev := byName[got[i-1]]
		if phase(prev) > phase(c) {
			t.Fatalf("%+v ranked before %+v", prev, c)
		}
		// A known peer may precede a nearer one only from within the tie window.
		if phase(prev) == 1 && phase(c) == 1 && prev.RTT > c.RTT+rankTieWindow(c.RTT) {
			t.Fatalf("%q (RTT %v) ranked before nearer %q (RTT %v)", prev.Name, prev.RTT, c.Name, c.RTT)
		}
	}
}
