package node

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
)

// Where an invocation ran, as the label "where" of the invocation metrics
// says (docs/http-api.md).
const (
	whereLocal        = "local"         // here, for a caller of this node
	whereForwardedOut = "forwarded-out" // on a peer, for a caller of this node
	whereForwardedIn  = "forwarded-in"  // here, for a peer's caller
	whereNone         = "none"          // nowhere: denied, shed or canceled while queued
	whereObject       = "object"        // here, an event of a Durable Object this node owns
)

// metrics are a node's Prometheus metrics, in a registry of its own: a
// process may run several nodes (tests do).
type metrics struct {
	reg         *prometheus.Registry
	handler     http.Handler
	invocations *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	startup     *prometheus.HistogramVec
	shed        prometheus.Counter
	// objectCommit times the output gate's commits of Durable Object
	// writes (or confirmations of ownership, for replies without).
	objectCommit *prometheus.HistogramVec
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warren_invocations_total",
			Help: "Invocations that ended, by outcome and by where they ran (local, forwarded-out, forwarded-in, none). Those run here count their final result, after ctx.waitUntil work.",
		}, []string{"outcome", "where"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warren_invocation_duration_seconds",
			Help:    "Wall time of an invocation as this node saw it, from its arrival (queueing included) to its response, by where it ran.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"where"}),
		startup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warren_invocation_startup_seconds",
			Help:    "Time to prepare an invocation run here before its code ran (telemetry.startupMs), by whether it was a cold start.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"cold_start"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "warren_load_shed_total",
			Help: "Invocations of this node's callers shed (outcome loadShed): no node of the mesh had room in time, or the queue was full.",
		}),
	}
	m.objectCommit = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "warren_object_gate_seconds",
		Help:    "Time the output gate of a Durable Object took to make its queued replies' writes durable (kind=commit: one Raft entry for the merged batches) or to confirm the owner still leads (kind=verify).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 10},
	}, []string{"kind"})
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(m.invocations, m.latency, m.startup, m.shed, m.objectCommit,
		gauge("warren_objects_active", "Durable Objects with an actor on this node (owned here, called within the last minute).", func() float64 { return float64(n.objects.active()) }),
		gauge("warren_invocations_running", "Invocations running here.", func() float64 { return float64(n.running.Load()) }),
		gauge("warren_invocations_queued", "Invocations waiting for room, here or at a peer.", func() float64 { return float64(n.queued.Load()) }),
		gauge("warren_invocations_running_on_peers", "Invocations this node forwarded that a peer is running.", func() float64 { return float64(n.remote.Load()) }),
		gauge("warren_slots", "Invocations this node runs at once.", func() float64 { return float64(n.cfg.Slots) }),
		&meshCollector{n: n},
		&poolCollector{n: n},
	)
	if n.cluster != nil {
		m.reg.MustRegister(&raftCollector{n: n}, n.raftCommit)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// ended counts an invocation that ended where it says.
func (m *metrics) ended(res *isolate.Result, where string) {
	m.invocations.WithLabelValues(string(res.Outcome), where).Inc()
	if res.Outcome == isolate.OutcomeLoadShed {
		m.shed.Inc()
	}
	if where == whereLocal || where == whereForwardedIn {
		if t := res.Telemetry; t.StartupMs > 0 || t.ColdStart {
			m.startup.WithLabelValues(strconv.FormatBool(t.ColdStart)).Observe(t.StartupMs / 1000)
		}
	}
}

// gate observes one commit or confirmation of a Durable Object's output
// gate.
func (m *metrics) gate(kind string, d time.Duration) {
	m.objectCommit.WithLabelValues(kind).Observe(d.Seconds())
}

// took observes the wall time of an invocation that started at start.
func (m *metrics) took(start time.Time, where string) {
	m.latency.WithLabelValues(where).Observe(time.Since(start).Seconds())
}

func (n *Node) handleMetrics(w http.ResponseWriter, r *http.Request) {
	n.metrics.handler.ServeHTTP(w, r)
}

var (
	memberStates = []string{mesh.StateAlive, mesh.StateSuspect, mesh.StateDraining, mesh.StateDead, mesh.StateLeft}
	membersDesc  = prometheus.NewDesc("warren_mesh_members", "Members of the mesh as this node sees them (itself included), by state.", []string{"state"}, nil)
	peerRTTDesc  = prometheus.NewDesc("warren_mesh_peer_rtt_seconds", "Round-trip time to a peer, measured (QUIC) or estimated (Vivaldi); absent when unknown.", []string{"peer", "source"}, nil)
)

// meshCollector reads the members at scrape time.
type meshCollector struct{ n *Node }

func (c *meshCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- membersDesc
	ch <- peerRTTDesc
}

func (c *meshCollector) Collect(ch chan<- prometheus.Metric) {
	count := map[string]int{}
	for _, p := range c.n.mesh.Members() {
		count[p.State]++
		if !p.Local && p.RTTSource != "" {
			ch <- prometheus.MustNewConstMetric(peerRTTDesc, prometheus.GaugeValue, p.RTT.Seconds(), p.Name, p.RTTSource)
		}
	}
	for _, s := range memberStates {
		ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(count[s]), s)
	}
}

var (
	poolWorkersDesc  = prometheus.NewDesc("warren_sandbox_workers", "Sandbox worker processes, by state (idle, busy, spare, starting).", []string{"state"}, nil)
	poolWaitingDesc  = prometheus.NewDesc("warren_sandbox_waiting", "Invocations waiting for a sandbox worker.", nil, nil)
	poolSpawnedDesc  = prometheus.NewDesc("warren_sandbox_workers_started_total", "Sandbox workers started.", nil, nil)
	poolRestartsDesc = prometheus.NewDesc("warren_sandbox_workers_ended_total", "Sandbox workers replaced, by why: killed by the pool (deadline, cancel, IPC error) crashed (crash, memory), or recycled (it had served another tenant, and a caller needed a worker).", []string{"reason"}, nil)
	poolFailedDesc   = prometheus.NewDesc("warren_sandbox_start_failures_total", "Failed sandbox worker starts.", nil, nil)
	poolDemotedDesc  = prometheus.NewDesc("warren_sandbox_calls_demoted_total", "Calls that ran past 20 ms of CPU and went on at a low CPU weight.", nil, nil)
	poolLowDesc      = prometheus.NewDesc("warren_sandbox_calls_started_low_total", "Calls that started at the low CPU weight: their client's calls ran long within the last second.", nil, nil)
	poolBoostedDesc  = prometheus.NewDesc("warren_sandbox_floor_boosts_total", "Windows of 10 ms at the normal CPU weight given to demoted calls that got less than their floor of CPU.", nil, nil)
)

// poolStats is what poolCollector reads of isolate.Runtime.Stats (whose
// type is internal to isolate; it is small, so JSON carries it).
type poolStats struct {
	Workers       *int   `json:"workers"` // nil: the in-process executor has no pool
	Idle          int    `json:"idle"`
	Busy          int    `json:"busy"`
	Spares        int    `json:"spares"`
	Starting      int    `json:"starting"`
	Waiting       int    `json:"waiting"`
	Spawned       uint64 `json:"spawned"`
	Killed        uint64 `json:"killed"`
	Crashed       uint64 `json:"crashed"`
	StartFailures uint64 `json:"startFailures"`
	Demoted       uint64 `json:"demoted"`
	StartedLow    uint64 `json:"startedLow"`
	Boosted       uint64 `json:"boosted"`
	Recycled      uint64 `json:"recycled"`
	ParkIdled     uint64 `json:"parkedIdleEnded"`
}

// poolCollector reads the sandbox pool at scrape time.
type poolCollector struct{ n *Node }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolWorkersDesc, poolWaitingDesc, poolSpawnedDesc, poolRestartsDesc, poolFailedDesc, poolDemotedDesc, poolLowDesc, poolBoostedDesc} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	b, err := json.Marshal(c.n.rt.Stats())
	var s poolStats
	if err != nil || json.Unmarshal(b, &s) != nil || s.Workers == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(poolWorkersDesc, s.Idle, "idle")
	gauge(poolWorkersDesc, s.Busy, "busy")
	gauge(poolWorkersDesc, s.Spares, "spare")
	gauge(poolWorkersDesc, s.Starting, "starting")
	gauge(poolWaitingDesc, s.Waiting)
	counter(poolSpawnedDesc, s.Spawned)
	counter(poolRestartsDesc, s.Killed, "killed")
	counter(poolRestartsDesc, s.Crashed, "crashed")
	counter(poolRestartsDesc, s.Recycled, "recycled")
	counter(poolRestartsDesc, s.ParkIdled, "parked-idle")
	counter(poolFailedDesc, s.StartFailures)
	counter(poolDemotedDesc, s.Demoted)
	counter(poolLowDesc, s.StartedLow)
	counter(poolBoostedDesc, s.Boosted)
}

var (
	raftLeaderDesc  = prometheus.NewDesc("warren_raft_leader", "1 if this node's replica leads the Raft group, else 0.", []string{"group"}, nil)
	raftStateDesc   = prometheus.NewDesc("warren_raft_state", "1 for the state of this node's replica of the Raft group (leader, follower, candidate, shutdown).", []string{"group", "state"}, nil)
	raftTermDesc    = prometheus.NewDesc("warren_raft_term", "Current term of this node's replica of the Raft group.", []string{"group"}, nil)
	raftLastDesc    = prometheus.NewDesc("warren_raft_last_index", "Last log index of this node's replica of the Raft group.", []string{"group"}, nil)
	raftCommitDesc  = prometheus.NewDesc("warren_raft_commit_index", "Commit index of this node's replica of the Raft group.", []string{"group"}, nil)
	raftAppliedDesc = prometheus.NewDesc("warren_raft_applied_index", "Index applied to the state machine of this node's replica of the Raft group.", []string{"group"}, nil)
)

// newRaftCommitHistogram times the commands a node's replicas apply as
// leaders, from the proposal to the result.
func newRaftCommitHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "warren_raft_commit_seconds",
		Help:    "Time from proposing a command to a Raft group this node leads until its result (a quorum's synced append, then the apply).",
		Buckets: []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 10},
	})
}

var (
	raftLagDesc     = prometheus.NewDesc("warren_raft_apply_lag_entries", "Entries this node's replica of the Raft group knows committed but has not applied yet.", []string{"group"}, nil)
	raftContactDesc = prometheus.NewDesc("warren_raft_last_contact_seconds", "Seconds since this node's follower replica of the Raft group last heard from its leader (0 for a leader).", []string{"group"}, nil)
)

// raftCollector reads this node's replicas at scrape time.
type raftCollector struct{ n *Node }

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raftLeaderDesc, raftStateDesc, raftTermDesc, raftLastDesc, raftCommitDesc, raftAppliedDesc, raftLagDesc, raftContactDesc} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.n.cluster.LocalStatus() {
		gauge := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), append([]string{s.ID}, labels...)...)
		}
		leads := uint64(0)
		if s.State == "leader" {
			leads = 1
		}
		gauge(raftLeaderDesc, leads)
		gauge(raftStateDesc, 1, s.State)
		gauge(raftTermDesc, s.Term)
		gauge(raftLastDesc, s.LastIndex)
		gauge(raftCommitDesc, s.CommitIndex)
		gauge(raftAppliedDesc, s.AppliedIndex)
		if s.CommitIndex > s.AppliedIndex {
			gauge(raftLagDesc, s.CommitIndex-s.AppliedIndex)
		} else {
			gauge(raftLagDesc, 0)
		}
		ch <- prometheus.MustNewConstMetric(raftContactDesc, prometheus.GaugeValue, s.SinceContact.Seconds(), s.ID)
	}
}
