package node

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// countedSchedule counts the calls of its schedule's Next.
type countedSchedule struct {
	cron.Schedule
	n int
}

func (c *countedSchedule) Next(t time.Time) time.Time {
	c.n++
	return c.Schedule.Next(t)
}

// TestCronDueNeverFires: an expression with no tick within five years
// (robfig/cron's Next answers the zero time) costs its owner a look or
// two each round, not 100,000 five-year searches, and a deploy refuses it.
func TestCronDueNeverFires(t *testing.T) {
	for _, expr := range []string{"0 0 30 2 *", "0 0 0 31 4 *"} {
		s, err := cronParser.Parse(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		cs := &countedSchedule{Schedule: s}
		now := time.Now()
		st := &cronState{crons: []string{expr}, scheds: []cron.Schedule{cs}, last: now.Add(-time.Minute).UnixMilli()}
		if due := st.due(now); due != 0 {
			t.Errorf("%q: due %d", expr, due)
		}
		if cs.n > 2 {
			t.Errorf("%q: one look for a due tick called Next %d times", expr, cs.n)
		}
		err = (&Triggers{Crons: []string{"@hourly", expr}}).validate()
		if err == nil || !strings.Contains(err.Error(), "triggers.crons[1]") {
			t.Errorf("%q: validate: %v", expr, err)
		}
	}
}
