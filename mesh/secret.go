package mesh

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"runtime"
	"time"
)

// ALPN is the TLS application protocol every mesh connection negotiates.
const ALPN = "warren/1"

// NodeDomain is the DNS suffix of the SAN in a node certificate:
// "<id>.warren.mesh".
const NodeDomain = "warren.mesh"

// GossipKeySize is the size of the gossip key in a mesh secret (AES-256).
const GossipKeySize = 32

const (
	pemCACert    = "CERTIFICATE"
	pemCAKey     = "PRIVATE KEY"
	pemGossipKey = "WARREN GOSSIP KEY"

	caValidity   = 50 * 365 * 24 * time.Hour
	nodeValidity = 365 * 24 * time.Hour
	clockSkew    = time.Hour
)

// ErrSecretPermissions is wrapped by LoadSecret's error when the secret file
// is readable or writable by group or others.
var ErrSecretPermissions = errors.New("mesh secret file is accessible by group or others")

// Secret is what proves membership of one mesh: the mesh CA (key and
// self-signed certificate) that issues node certificates, and the key that
// encrypts gossip. Whoever holds it is a member; keep it mode 0600.
type Secret struct {
	CACert    *x509.Certificate
	CAKey     crypto.Signer
	GossipKey []byte // GossipKeySize bytes

	caDER  []byte
	keyDER []byte // PKCS #8 of CAKey
	pool   *x509.CertPool
}

// GenerateSecret makes a fresh mesh secret: an ECDSA P-256 CA with a
// long-lived self-signed certificate and a random 32-byte gossip key.
func GenerateSecret() (*Secret, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mesh secret: generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "warren mesh CA", Organization: []string{"warren mesh"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("mesh secret: creating CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("mesh secret: encoding CA key: %w", err)
	}
	gossip := make([]byte, GossipKeySize)
	if _, err := rand.Read(gossip); err != nil {
		return nil, fmt.Errorf("mesh secret: generating gossip key: %w", err)
	}
	return newSecret(der, keyDER, gossip)
}

func newSecret(caDER, keyDER, gossip []byte) (*Secret, error) {
	cert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("mesh secret: CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("mesh secret: the certificate is not a CA")
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("mesh secret: CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("mesh secret: CA key of type %T cannot sign", k)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := signer.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("mesh secret: the CA key does not match the CA certificate")
	}
	if len(gossip) != GossipKeySize {
		return nil, fmt.Errorf("mesh secret: gossip key is %d bytes, want %d", len(gossip), GossipKeySize)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &Secret{
		CACert:    cert,
		CAKey:     signer,
		GossipKey: append([]byte(nil), gossip...),
		caDER:     append([]byte(nil), caDER...),
		keyDER:    append([]byte(nil), keyDER...),
		pool:      pool,
	}, nil
}

// Encode returns the secret as PEM: the CA certificate, the CA key (PKCS #8)
// and the gossip key.
func (s *Secret) Encode() []byte {
	var out []byte
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemCACert, Bytes: s.caDER})...)
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemCAKey, Bytes: s.keyDER})...)
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemGossipKey, Bytes: s.GossipKey})...)
	return out
}

// ParseSecret reads a secret from its PEM encoding (see Encode).
func ParseSecret(data []byte) (*Secret, error) {
	var caDER, keyDER, gossip []byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case pemCACert:
			caDER = b.Bytes
		case pemCAKey:
			keyDER = b.Bytes
		case pemGossipKey:
			gossip = b.Bytes
		default:
			return nil, fmt.Errorf("mesh secret: unexpected PEM block %q", b.Type)
		}
	}
	switch {
	case caDER == nil:
		return nil, errors.New("mesh secret: no CA certificate (PEM " + pemCACert + ")")
	case keyDER == nil:
		return nil, errors.New("mesh secret: no CA key (PEM " + pemCAKey + ")")
	case gossip == nil:
		return nil, errors.New("mesh secret: no gossip key (PEM " + pemGossipKey + ")")
	}
	return newSecret(caDER, keyDER, gossip)
}

// WriteSecret writes s to a new file at path with mode 0600. It refuses to
// overwrite an existing file.
func WriteSecret(path string, s *Secret) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("mesh secret %s already exists; refusing to overwrite it: %w", path, err)
		}
		return fmt.Errorf("writing mesh secret: %w", err)
	}
	_, err = f.Write(s.Encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(path, 0o600) // whatever the umask did
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing mesh secret %s: %w", path, err)
	}
	return nil
}

// LoadSecret reads the secret at path. It refuses a file that group or others
// may read or write (the error wraps ErrSecretPermissions and says how to fix
// it). The check is skipped on Windows, which has no such mode bits.
func LoadSecret(path string) (*Secret, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("loading mesh secret: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o066 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("mesh secret %s has mode %04o: it must not be readable or writable by group or others; fix it with: chmod 600 %s: %w",
			path, perm, path, ErrSecretPermissions)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading mesh secret: %w", err)
	}
	s, err := ParseSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// DeriveKey derives a 32-byte key for purpose from the whole secret (HKDF
// SHA-256), so that other parts of warren (token signing, for one) need no
// key material of their own. Distinct purposes give independent keys.
func (s *Secret) DeriveKey(purpose string) []byte {
	ikm := make([]byte, 0, len(s.GossipKey)+len(s.keyDER))
	ikm = append(ikm, s.GossipKey...)
	ikm = append(ikm, s.keyDER...)
	k, err := hkdf.Key(sha256.New, ikm, nil, "warren mesh/"+purpose, 32)
	if err != nil { // only for absurd lengths
		panic(err)
	}
	return k
}

// CertPool returns a pool holding only the mesh CA.
func (s *Secret) CertPool() *x509.CertPool { return s.pool }

// validNodeID reports whether id can be a DNS label: 1–63 letters, digits
// and inner hyphens.
func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > 63 || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// IssueNodeCert issues a fresh node certificate (new P-256 key, valid for a
// year, so each start renews it) naming the node: CommonName is name, the
// subject's serial number attribute is id and the DNS SAN is
// "<id>.warren.mesh". It is good for both client and server
// authentication. id must be a DNS label (letters, digits, hyphens).
func (s *Secret) IssueNodeCert(id, name string) (tls.Certificate, error) {
	if !validNodeID(id) {
		return tls.Certificate{}, fmt.Errorf("node certificate: id %q is not a DNS label (1-63 letters, digits or hyphens)", id)
	}
	if name == "" || len(name) > 255 {
		return tls.Certificate{}, fmt.Errorf("node certificate: name must be 1-255 bytes, got %d", len(name))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	notAfter := now.Add(nodeValidity)
	if notAfter.After(s.CACert.NotAfter) {
		notAfter = s.CACert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   name,
			SerialNumber: id,
			Organization: []string{"warren mesh"},
		},
		DNSNames:    []string{id + "." + NodeDomain},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.CACert, &key.PublicKey, s.CAKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// ServerTLSConfig is the TLS configuration a node serves with: TLS 1.3 only,
// ALPN "warren/1", and a client certificate issued by the mesh CA required.
func (s *Secret) ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.pool,
		NextProtos:   []string{ALPN},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, _, err := s.verifyPeer(cs, x509.ExtKeyUsageClientAuth, "")
			return err
		},
	}
}

// ClientTLSConfig is the TLS configuration a node dials with: TLS 1.3 only,
// ALPN "warren/1", the server's certificate must chain to the mesh CA (and
// only to it), and when peerName is not empty its CommonName must be
// peerName. Host names and IP addresses play no part.
func (s *Secret) ClientTLSConfig(cert tls.Certificate, peerName string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ServerName:   NodeDomain,
		NextProtos:   []string{ALPN},
		// The standard verification checks a host name, which a mesh peer
		// dialled by address does not have; VerifyConnection does the full
		// chain verification against the mesh CA instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, _, err := s.verifyPeer(cs, x509.ExtKeyUsageServerAuth, peerName)
			return err
		},
	}
}

// verifyPeer verifies the peer's certificate chain against the mesh CA for
// usage and returns the node name and id it names.
func (s *Secret) verifyPeer(cs tls.ConnectionState, usage x509.ExtKeyUsage, wantName string) (name, id string, err error) {
	if len(cs.PeerCertificates) == 0 {
		return "", "", errors.New("mesh peer presented no certificate")
	}
	if cs.NegotiatedProtocol != ALPN {
		return "", "", fmt.Errorf("mesh peer negotiated ALPN %q, want %q", cs.NegotiatedProtocol, ALPN)
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", "", fmt.Errorf("mesh peer certificate: %w", err)
	}
	name, id, err = certIdentity(leaf)
	if err != nil {
		return "", "", err
	}
	if wantName != "" && name != wantName {
		return "", "", fmt.Errorf("mesh peer certificate names %q, want %q", name, wantName)
	}
	return name, id, nil
}

// certIdentity returns the node name and id a node certificate carries.
func certIdentity(c *x509.Certificate) (name, id string, err error) {
	name, id = c.Subject.CommonName, c.Subject.SerialNumber
	if name == "" || !validNodeID(id) {
		return "", "", errors.New("mesh peer certificate does not name a node")
	}
	return name, id, nil
}

// PeerIdentity returns the node name and id of the peer of a verified mesh
// TLS connection (the certificate, never the payload, says who it is).
func PeerIdentity(cs tls.ConnectionState) (name, id string, err error) {
	if len(cs.PeerCertificates) == 0 {
		return "", "", errors.New("mesh peer presented no certificate")
	}
	return certIdentity(cs.PeerCertificates[0])
}
