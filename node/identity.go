package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// identity is what makes a node the same node across restarts.
type identity struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

const identityFile = "node.json"

// loadIdentity reads DIR/node.json, creating it (and DIR) on first start. A
// name given on the command line must match the stored one: renaming a node
// in place would confuse its peers.
func loadIdentity(dir, name string) (identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return identity{}, fmt.Errorf("node: data dir: %w", err)
	}
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var id identity
		if err := json.Unmarshal(b, &id); err != nil || id.ID == "" || id.Name == "" {
			return identity{}, fmt.Errorf("node: %s is corrupt (delete it to start as a new node): %v", path, err)
		}
		if name != "" && name != id.Name {
			return identity{}, fmt.Errorf("node: %s holds node %q, not %q (use another --data dir for another node)", dir, id.Name, name)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return identity{}, fmt.Errorf("node: %w", err)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return identity{}, err
	}
	id := identity{ID: hex.EncodeToString(raw[:]), Name: name}
	if id.Name == "" {
		host, _ := os.Hostname()
		host = strings.ToLower(strings.SplitN(host, ".", 2)[0])
		if host == "" {
			host = "node"
		}
		id.Name = host + "-" + id.ID[:4]
	}
	b, _ = json.MarshalIndent(id, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return identity{}, fmt.Errorf("node: %w", err)
	}
	return id, nil
}
