package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// Client talks to a node's HTTP API.
type Client struct {
	// URL is the node's API base URL, e.g. http://127.0.0.1:7070.
	URL  string
	HTTP *http.Client
}

// NewClient returns a client for the node at url (a bare host:port gets http://).
func NewClient(url string) *Client {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	return &Client{URL: strings.TrimRight(url, "/"), HTTP: &http.Client{Timeout: 15 * time.Minute}}
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("node %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxRunBody))
	if err != nil {
		return fmt.Errorf("node %s: reading the answer: %w", c.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("node %s: %s (%s)", c.URL, e.Error, e.Code)
		}
		return fmt.Errorf("node %s: HTTP %d: %s", c.URL, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// Run submits code to the node.
func (c *Client) Run(ctx context.Context, code *isolate.Code, req *isolate.Request, bindings map[string]isolate.Binding) (*isolate.Result, error) {
	raw, err := json.Marshal(code)
	if err != nil {
		return nil, err
	}
	var res isolate.Result
	if err := c.do(ctx, http.MethodPost, "/v1/run", &RunRequest{Code: raw, Request: req, Bindings: bindings}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Members lists the node's peer table.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/members", nil, &out); err != nil {
		return nil, err
	}
	return out.Members, nil
}
