package mesh

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Candidate is what the ranking knows of one node.
type Candidate struct {
	Name   string
	Local  bool          // this node
	Alive  bool          // set it for the local node too; false means dead, suspect or draining
	Free   int           // free slots as last gossiped (local: exact)
	Load   float64       // 0..1+ utilisation
	RTT    time.Duration // measured round trip from the local node
	HasRTT bool          // false: unknown (no QUIC stats, no coordinate), ranked after every known one
}

// Peers whose RTTs differ by no more than the larger of these two are
// equally near, and the lower load goes first among them: a few hundred
// microseconds or a tenth of the RTT is measurement noise, not distance.
const (
	rankTieAbs  = 200 * time.Microsecond
	rankTieFrac = 10 // percent of the nearer peer's RTT
)

// Rank returns, in the order to try them, the names of the nodes that may
// take an invocation now. An empty result means there is no room anywhere:
// the caller queues, then sheds.
//
// The order:
//   - the local node first, when it is alive and has a free slot;
//   - then alive peers with free slots and a known RTT, nearest first.
//     Peers are sorted by RTT and cut into groups: a group starts at the
//     nearest peer not yet placed and takes every peer whose RTT is at most
//     max(200µs, 10% of the group's first RTT) above it. Within a group the
//     lower load goes first, then the lower RTT, then the name;
//   - then alive peers with free slots and an unknown RTT, by load, then name.
//
// Nodes that are not alive or have no free slot are left out. Grouping
// against the group's first peer (not pairwise) keeps the order a total,
// input-order-independent function of the candidates: the same set in any
// order gives the same result. A NaN load sorts as the highest load; a
// negative RTT counts as zero. Names are expected to be unique; a repeated
// name appears once, at its best place.
//
// Rank does not modify cands.
func Rank(cands []Candidate) []string {
	var local, known, unknown []Candidate
	for _, c := range cands {
		if !c.Alive || c.Free <= 0 {
			continue
		}
		switch {
		case c.Local:
			local = append(local, c)
		case c.HasRTT:
			c.RTT = max(c.RTT, 0)
			known = append(known, c)
		default:
			unknown = append(unknown, c)
		}
	}

	slices.SortFunc(local, rankByLoad)
	slices.SortFunc(unknown, rankByLoad)

	slices.SortFunc(known, func(a, b Candidate) int {
		if c := cmp.Compare(a.RTT, b.RTT); c != 0 {
			return c
		}
		return rankByLoad(a, b)
	})
	for start := 0; start < len(known); {
		limit := known[start].RTT + rankTieWindow(known[start].RTT)
		end := start + 1
		for end < len(known) && known[end].RTT <= limit {
			end++
		}
		slices.SortFunc(known[start:end], func(a, b Candidate) int {
			if c := cmp.Compare(rankLoad(a), rankLoad(b)); c != 0 {
				return c
			}
			if c := cmp.Compare(a.RTT, b.RTT); c != 0 {
				return c
			}
			return cmp.Compare(a.Name, b.Name)
		})
		start = end
	}

	out := make([]string, 0, len(local)+len(known)+len(unknown))
	seen := make(map[string]bool, cap(out))
	for _, group := range [][]Candidate{local, known, unknown} {
		for _, c := range group {
			if !seen[c.Name] {
				seen[c.Name] = true
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// rankTieWindow is how far above rtt another RTT still counts as equal.
func rankTieWindow(rtt time.Duration) time.Duration {
	return max(rankTieAbs, rtt/100*rankTieFrac)
}

// rankByLoad orders by load, then name, then the remaining fields, so that
// the order is total even for repeated names.
func rankByLoad(a, b Candidate) int {
	if c := cmp.Compare(rankLoad(a), rankLoad(b)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Free, b.Free)
}

func rankLoad(c Candidate) float64 {
	if math.IsNaN(c.Load) {
		return math.Inf(1)
	}
	return c.Load
}
