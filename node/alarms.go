package node

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// Alarms.
//
// An object's alarm (ctx.storage.setAlarm) is stored with its storage, in
// its group, so it survives its owner. The leader of each data group, the
// owner of its objects, looks for alarms due when the next one comes due
// (every alarmEvery while some are due; see runAlarms) and runs
// each as an "alarm" event of its object, one at a time with the object's
// other events. A run that succeeds deletes the alarm, unless the handler
// set a new one; one that fails (an exception, a limit) is retried after
// 1 s, 2 s, 4 s, ... (alarmRetries times), as on Cloudflare. An alarm
// runs at least once: an owner that dies after running it but before
// its deletion committed leaves it to the next owner, which runs it
// again.

const (
	// alarmEvery is how often an owner looks for alarms due while one is
	// due or running; alarmIdleEvery bounds the wait otherwise (see
	// runAlarms).
	alarmEvery     = 100 * time.Millisecond
	alarmIdleEvery = 10 * time.Second
	// alarmRetries is how many times a failing alarm is retried.
	alarmRetries = 6
	// alarmsAtOnce bounds the alarms an owner runs at once, and
	// alarmsPerWorker those of one Worker's objects among them: a Worker
	// whose alarm handlers run long (up to their wall limit) cannot hold
	// every slot while other Workers' alarms come due.
	alarmsAtOnce    = 16
	alarmsPerWorker = alarmsAtOnce / 4
	// alarmsLooked is how many of the earliest alarms due an owner looks
	// at: past those of Workers at their share, to the others'.
	alarmsLooked = 4 * alarmsAtOnce
	// alarmSuspendedEvery is how long the alarm of a suspended Worker's
	// object (its deployer's token revoked) waits before it is looked at
	// again: kept for the deploy that lifts the suspension, but not among
	// the alarms due.
	alarmSuspendedEvery = 10 * time.Minute
)

// suspended reports whether err is a deployment's refusal because its
// Worker is suspended (its deployer's token was revoked).
func suspended(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusForbidden
}

// afterAlarm returns the writes to commit after an alarm event: the
// event's own, and the alarm deleted (it ran) or moved (it failed and is
// retried), unless the handler set or deleted it itself, in its last writes
// or in ones committed earlier in the event (set).
func (a *actor) afterAlarm(res *isolate.ObjectResult, set bool) *isolate.StorageBatch {
	var w isolate.StorageBatch
	if res.Writes != nil {
		w = *res.Writes
	}
	if w.Alarm != nil || set {
		a.alarmFailures = 0
		return &w
	}
	next := int64(0)
	if res.Outcome != isolate.OutcomeOK {
		if a.alarmFailures < alarmRetries {
			next = time.Now().Add(a.o.ot.alarmBackoff << a.alarmFailures).UnixMilli()
			a.alarmFailures++
		} else {
			a.o.n.log.Warn("a Durable Object's alarm failed too often; dropping it", "object", a.ref.Worker+"."+a.ref.Class+" "+a.ref.ID, "tries", a.alarmFailures+1, "outcome", res.Outcome, "error", res.Error)
			a.alarmFailures = 0
		}
	} else {
		a.alarmFailures = 0
	}
	w.Alarm = &next
	return &w
}

// alarms runs the alarms due in the groups this node leads.
type alarms struct {
	o       *objects
	mu      sync.Mutex
	running map[string]bool // object keys whose alarm is running
	workers map[string]int  // alarms running, by Worker
	slots   chan struct{}
}

func newAlarms(o *objects) *alarms {
	return &alarms{o: o, running: map[string]bool{}, workers: map[string]int{}, slots: make(chan struct{}, alarmsAtOnce)}
}

// runAlarms looks for due alarms every alarmEvery while one is due or
// running, and otherwise sleeps until the next alarm of the groups this
// node leads, or an alarm set here or a group's leadership gained
// (Cluster.AlarmsChanged), or at most alarmIdleEvery. An idle node does
// not scan its store ten times a second, nor wake up every second.
func (n *Node) runAlarms() {
	al := n.alarms
	t := time.NewTimer(alarmEvery)
	defer t.Stop()
	for {
		select {
		case <-n.life.Done():
			return
		case now := <-t.C:
			al.fire(now)
		case <-n.cluster.AlarmsChanged():
			t.Stop()
			al.fire(time.Now())
		}
		wait := alarmIdleEvery
		if next, ok := n.cluster.NextAlarm(); ok {
			wait = min(max(time.Until(next), alarmEvery), alarmIdleEvery)
		}
		al.mu.Lock()
		if len(al.running) > 0 {
			wait = alarmEvery
		}
		al.mu.Unlock()
		t.Reset(wait)
	}
}

// fire starts the due alarms that are not running already.
func (al *alarms) fire(now time.Time) {
	n := al.o.n
	for _, d := range n.cluster.DueAlarms(now, alarmsLooked) {
		ref, ok := parseObjectKey(d.ObjectKey)
		if !ok {
			continue
		}
		al.mu.Lock()
		busy := al.running[d.ObjectKey] || al.workers[ref.Worker] >= alarmsPerWorker
		if !busy {
			select {
			case al.slots <- struct{}{}:
				al.running[d.ObjectKey] = true
				al.workers[ref.Worker]++
			default:
				busy = true // as many as it runs at once: the rest wait
			}
		}
		al.mu.Unlock()
		if busy {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(n.life, objectCallTimeout)
			rep := al.o.runHere(ctx, &objectCall{Ref: ref, Kind: isolate.ObjectAlarm}, "")
			cancel()
			if rep.Error != "" {
				n.log.Debug("a Durable Object's alarm did not run", "object", d.ObjectKey, "error", rep.Error)
				// Not run (no deployment, no leadership): look again
				// after a while rather than at every tick.
				t := time.NewTimer(al.o.ot.alarmBackoff)
				select {
				case <-t.C:
				case <-n.life.Done():
					t.Stop()
				}
			}
			al.mu.Lock()
			delete(al.running, d.ObjectKey)
			if al.workers[ref.Worker]--; al.workers[ref.Worker] == 0 {
				delete(al.workers, ref.Worker)
			}
			<-al.slots
			al.mu.Unlock()
		}()
	}
}

// parseObjectKey splits an isolate.ObjectRef's Key.
func parseObjectKey(key string) (isolate.ObjectRef, bool) {
	parts := strings.Split(key, "\x00")
	if len(parts) != 3 {
		return isolate.ObjectRef{}, false
	}
	ref := isolate.ObjectRef{Worker: parts[0], Class: parts[1], ID: parts[2]}
	return ref, validRef(ref) == nil
}
