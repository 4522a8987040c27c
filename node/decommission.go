package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/warrenmesh/warren/mesh"
)

// Decommissioning a node: POST /v1/decommission (admin) marks the node
// *retiring* in its gossiped state, and the meta leader moves its
// replicas to other nodes now (each added elsewhere, caught up and
// promoted before the node's own is removed, so that no group runs a
// replica short), rather than after the node has stopped and the grace
// period has passed. The answer lists the groups the node still holds;
// once it holds none, stopping it moves nothing and loses no redundancy.
// DELETE cancels (the node may receive replicas again); GET reports. The
// mark outlives a restart: a file in the node's data directory,
// "retiring", holds it, so that a node that crashed while its replicas
// moved goes on retiring rather than receive them back.
//
// A mesh with no other node to take a group (three nodes for three
// replicas) keeps the replica on the retiring node: placement never
// shrinks a group for a node that still lives. The answer says so.

// Decommission is the answer of /v1/decommission.
type Decommission struct {
	Node string `json:"node"`
	// Retiring: the node's replicas are being moved off.
	Retiring bool `json:"retiring"`
	// Groups are the groups it still holds a replica of.
	Groups []string `json:"groups"`
	// Done: retiring and holding no replica; the node may be stopped.
	Done bool `json:"done"`
	// Note says what holds it up, when something may.
	Note string `json:"note,omitempty"`
}

// handleDecommission serves GET, POST and DELETE /v1/decommission.
func (n *Node) handleDecommission(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "decommissioning a node"); err != nil {
		writeError(w, err)
		return
	}
	if n.cluster == nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "no_kv", msg: "this node has no replicated KV store: it holds no replicas, and may be stopped"})
		return
	}
	if r.Method != http.MethodGet {
		if err := n.setRetiring(r.Method == http.MethodPost); err != nil {
			writeError(w, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	d, err := n.decommission(ctx)
	if err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// setRetiring marks the node retiring, or not, and records it in the
// data directory; one change at a time, so that the mark and the record
// agree whatever the order of calls made at once.
func (n *Node) setRetiring(on bool) error {
	n.retire.Lock()
	defer n.retire.Unlock()
	if on {
		if err := os.WriteFile(n.retiringPath(), []byte("decommissioned at "+time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
			return fmt.Errorf("recording the decommission in the data directory: %w", err)
		}
		if !n.retiring.Swap(true) {
			n.log.Info("decommissioning: this node's replicas move to other nodes")
		}
	} else {
		if err := os.Remove(n.retiringPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the decommission's record from the data directory: %w", err)
		}
		if n.retiring.Swap(false) {
			n.log.Info("decommissioning canceled: this node may hold replicas again")
		}
	}
	n.publish()
	return nil
}

// decommission is the node's decommissioning status, from the meta
// leader's view.
func (n *Node) decommission(ctx context.Context) (*Decommission, error) {
	groups, err := n.cluster.Held(ctx)
	if err != nil {
		return nil, err
	}
	d := &Decommission{Node: n.id.Name, Retiring: n.retiring.Load(), Groups: groups}
	d.Done = d.Retiring && len(d.Groups) == 0
	if d.Retiring && !d.Done {
		others := 0
		for _, p := range n.mesh.Members() {
			if !p.Local && p.State == mesh.StateAlive && !p.Retiring {
				others++
			}
		}
		if others < 3 {
			d.Note = "fewer than 3 other live nodes that are not retiring: a group's replicas need 3 distinct nodes, so placement keeps this node's until more nodes join"
		}
	}
	return d, nil
}

// Decommission asks the node to move its replicas off (POST), to stop
// (DELETE, cancel true), or says how far it is (GET, status true).
func (c *Client) Decommission(ctx context.Context, cancel, status bool) (*Decommission, error) {
	method := http.MethodPost
	switch {
	case status:
		method = http.MethodGet
	case cancel:
		method = http.MethodDelete
	}
	var out Decommission
	if err := c.do(ctx, method, "/v1/decommission", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// retiringPath is the file that records a decommission across restarts.
func (n *Node) retiringPath() string { return filepath.Join(n.cfg.Data, "retiring") }
