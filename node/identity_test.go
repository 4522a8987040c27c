package node

import (
	"strings"
	"testing"
)

func TestIdentityStable(t *testing.T) {
	dir := t.TempDir()
	a, err := loadIdentity(dir, "")
	if err != nil || a.ID == "" || a.Name == "" {
		t.Fatalf("first start: %+v %v", a, err)
	}
	b, err := loadIdentity(dir, "")
	if err != nil || b != a {
		t.Fatalf("restart: %+v %v, want %+v", b, err, a)
	}
	if _, err := loadIdentity(dir, "other"); err == nil || !strings.Contains(err.Error(), a.Name) {
		t.Errorf("renaming in place: %v", err)
	}
	named, err := loadIdentity(t.TempDir(), "n7")
	if err != nil || named.Name != "n7" {
		t.Errorf("named: %+v %v", named, err)
	}
}
