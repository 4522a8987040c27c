package hostile

import "testing"

// TestCorpus: every case has a name of its own, a kind, a source and the
// outcomes it may end with; every name in scriptKinds is a script's.
func TestCorpus(t *testing.T) {
	seen := map[string]bool{}
	kinds := map[string]int{}
	for _, c := range append(Scripts(), Egress("127.0.0.1:8080")...) {
		if c.Name == "" || seen[c.Name] || c.Src == "" || len(c.Outcomes) == 0 {
			t.Errorf("case %q: a name twice, or no source or outcomes", c.Name)
		}
		switch c.Kind {
		case KindCPU, KindMemory, KindTime, KindEscape, KindEgress:
		default:
			t.Errorf("case %q: kind %q", c.Name, c.Kind)
		}
		if c.Egress != (c.Kind == KindEgress) {
			t.Errorf("case %q: Egress %v, kind %s", c.Name, c.Egress, c.Kind)
		}
		seen[c.Name] = true
		kinds[c.Kind]++
	}
	for name := range scriptKinds {
		if !seen[name] {
			t.Errorf("scriptKinds names %q, no script", name)
		}
	}
	t.Logf("cases by kind: %v", kinds)
	if err := (&Case{Outcomes: []string{OK}, Has: "fine"}).Check(OK, "fine, and "+CanaryValue); err == nil {
		t.Error("Check let the canary through")
	}
	if err := (&Case{Outcomes: []string{ExceededCPU}}).Check(OK, ""); err == nil {
		t.Error("Check let an outcome through that the case does not allow")
	}
}
