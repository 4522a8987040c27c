package mesh

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestSecretRoundTrip(t *testing.T) {
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mesh.secret")
	if err := WriteSecret(path, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	got, err := LoadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CACert.Equal(s.CACert) || !bytes.Equal(got.GossipKey, s.GossipKey) || !bytes.Equal(got.Encode(), s.Encode()) {
		t.Fatal("loaded secret differs")
	}
	if len(got.GossipKey) != GossipKeySize {
		t.Fatalf("gossip key %d bytes", len(got.GossipKey))
	}
	if !bytes.Equal(got.DeriveKey("x"), s.DeriveKey("x")) || bytes.Equal(s.DeriveKey("x"), s.DeriveKey("y")) {
		t.Fatal("DeriveKey must be deterministic per purpose and differ between purposes")
	}

	// A certificate issued from the loaded copy verifies against the original.
	cert, err := got.IssueNodeCert("n1-id", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: s.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: s.CertPool(), DNSName: "n1-id.warren.mesh"}); err != nil {
		t.Fatal(err)
	}
	if name, id, err := certIdentity(cert.Leaf); err != nil || name != "n1" || id != "n1-id" {
		t.Fatalf("identity %q %q %v", name, id, err)
	}
}

func TestSecretRefusesOverwrite(t *testing.T) {
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mesh.secret")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = WriteSecret(path, s)
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") || !errors.Is(err, os.ErrExist) {
		t.Fatalf("WriteSecret over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatal("existing file was changed")
	}
}

func TestSecretRefusesOpenMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on windows")
	}
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mesh.secret")
	if err := WriteSecret(path, s); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSecret(path)
		if !errors.Is(err, ErrSecretPermissions) {
			t.Fatalf("mode %04o: err %v, want ErrSecretPermissions", mode, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600 "+path) || !strings.Contains(msg, "mode 0"+octal(mode)) {
			t.Fatalf("mode %04o: message %q lacks the path, the mode or the fix", mode, msg)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecret(path); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
}

func octal(m os.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

func TestParseSecretRejects(t *testing.T) {
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	full := string(s.Encode())
	cases := map[string]string{
		"empty":      "",
		"garbage":    "not pem",
		"no gossip":  string(s.Encode()[:strings.Index(full, "-----BEGIN WARREN GOSSIP KEY")]),
		"mixed keys": mixed(s, other),
	}
	for name, in := range cases {
		if _, err := ParseSecret([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// mixed is s's CA certificate with other's CA key.
func mixed(s, other *Secret) string {
	a, b := string(s.Encode()), string(other.Encode())
	keyStart := "-----BEGIN PRIVATE KEY-----"
	gossipStart := "-----BEGIN WARREN GOSSIP KEY-----"
	return a[:strings.Index(a, keyStart)] + b[strings.Index(b, keyStart):strings.Index(b, gossipStart)] + a[strings.Index(a, gossipStart):]
}

func TestIssueNodeCertValidatesID(t *testing.T) {
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "-a", "a-", "a.b", "a b", strings.Repeat("a", 64)} {
		if _, err := s.IssueNodeCert(id, "n"); err == nil {
			t.Errorf("id %q accepted", id)
		}
	}
	if _, err := s.IssueNodeCert("ok-1", ""); err == nil {
		t.Error("empty name accepted")
	}
}
